#include "cli_engine.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "engine/async_engine.hpp"
#include "engine/process/subprocess.hpp"
#include "skein/state_dir.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

// One pass over `arg`, so text substituted for one placeholder is never read as another.
std::string expand(const std::string& arg, const std::map<std::string, std::string>& values) {
  std::string out;
  for (size_t i = 0; i < arg.size();) {
    bool replaced = false;
    if (arg[i] == '{')
      for (const auto& [key, value] : values)
        if (arg.compare(i, key.size(), key) == 0) {
          out += value;
          i += key.size();
          replaced = true;
          break;
        }
    if (!replaced) out += arg[i++];
  }
  return out;
}

class CliEngine final : public AsyncEngine {
 public:
  CliEngine(std::string name, CliOptions o) : AsyncEngine(name, o.parallel), o_(std::move(o)) {
    if (o_.command.empty()) throw EngineError(this->name(), "`command` is empty");
    if (o_.log_file.empty()) o_.log_file = (state_dir() / "logs" / ("cli-" + this->name() + ".log")).string();
  }
  ~CliEngine() override { shutdown(); }

 protected:
  asio::awaitable<GenerateResult> generate(const GenerateRequest& req) override {
    SpawnOptions spawn;
    spawn.argv = cli_arguments(o_, req);
    spawn.log_file = o_.log_file;
    spawn.stdout_pipe = true;
    Subprocess process = co_await Subprocess::async_spawn(std::move(spawn));
    asio::posix::stream_descriptor out(io(), process.release_stdout());
    std::variant<std::string, std::monostate> got;
    std::exception_ptr cancelled;
    try {
      got = co_await (read_to_end(out) || async_sleep(o_.timeout));
    } catch (...) {
      cancelled = std::current_exception();
    }
    if (cancelled) {
      co_await asio::this_coro::reset_cancellation_state();  // to await the kill itself
      co_await process.async_kill();                         // the whole group goes at once
      std::rethrow_exception(cancelled);
    }
    GenerateResult r;
    if (got.index() == 1) {
      co_await process.async_kill();
      r.error = "command timed out after " + std::to_string(o_.timeout.count()) + " ms";
      co_return r;
    }
    const int status = co_await process.async_wait();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      r.error = "command exited with status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                "; last lines of " + o_.log_file + ":\n" + tail_lines(o_.log_file, 10);
      co_return r;
    }
    r.text = extract(std::get<0>(got));
    r.finish = Finish::stop;
    co_return r;
  }

 private:
  std::string extract(const std::string& text) const {
    if (o_.extract.empty()) return text;
    try {
      const Json j = Json::parse(text);
      const Json& v = j.at(o_.extract);
      return v.is_string() ? v.get<std::string>() : v.dump();
    } catch (const Json::exception&) {
      return text;  // not the wrapper we expected: let validation report it
    }
  }

  CliOptions o_;
};

}  // namespace

std::vector<std::string> cli_arguments(const CliOptions& o, const GenerateRequest& req) {
  std::string system, user;
  for (const auto& m : req.messages) {
    std::string& to = m.role == "system" ? system : user;
    to += (to.empty() ? "" : "\n\n") + m.content;
  }
  const std::string prompt = system.empty() ? user : system + "\n\n" + user;
  const std::string schema = req.output ? req.output->schema().dump() : "";
  const std::map<std::string, std::string> values = {
      {"{prompt}", prompt}, {"{system}", system}, {"{user}", user}, {"{schema}", schema}, {"{model}", o.model}};
  std::vector<std::string> out;
  for (const auto& arg : o.command) out.push_back(expand(arg, values));
  return out;
}

std::unique_ptr<Engine> make_cli_engine(const std::string& name, const CliOptions& options) {
  return std::make_unique<CliEngine>(name, options);
}

}  // namespace skein
