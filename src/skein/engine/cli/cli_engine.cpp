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
#include "util/state_dir.hpp"

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

asio::awaitable<std::string> read_all(asio::posix::stream_descriptor& out) {
  std::string text;
  char buf[8192];
  for (;;) {
    boost::system::error_code ec;
    const size_t n = co_await out.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    text.append(buf, n);
    if (ec == asio::error::eof) co_return text;
    if (ec) throw boost::system::system_error(ec);
  }
}

asio::awaitable<void> expire(std::chrono::milliseconds after) {
  asio::steady_timer timer(co_await asio::this_coro::executor, after);
  co_await timer.async_wait(asio::use_awaitable);
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
    SpawnOptions spawn{cli_arguments(o_, req), {}, "", o_.log_file, true};
    Subprocess process = Subprocess::spawn(spawn);
    asio::posix::stream_descriptor out(io(), process.release_stdout());
    std::variant<std::string, std::monostate> got;
    try {
      got = co_await (read_all(out) || expire(o_.timeout));
    } catch (...) {
      process.kill();  // cancelled: the whole group goes at once
      throw;
    }
    GenerateResult r;
    if (got.index() == 1) {
      process.kill();
      r.error = "command timed out after " + std::to_string(o_.timeout.count()) + " ms";
      co_return r;
    }
    co_await wait_exit(process);
    const int status = process.poll().value_or(-1);
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
  // Stdout closed; the exit follows. Waits on the pidfd without blocking the loop.
  asio::awaitable<void> wait_exit(Subprocess& p) {
    if (p.poll() || p.pidfd() < 0) co_return;
    asio::posix::stream_descriptor exit_fd(io(), ::dup(p.pidfd()));
    co_await exit_fd.async_wait(asio::posix::stream_descriptor::wait_read, asio::use_awaitable);
  }

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
