#include "exec_worker.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "skein/error.hpp"

namespace skein {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

asio::awaitable<std::unique_ptr<ExecWorker>> ExecWorker::start(std::vector<std::string> command, std::string cwd,
                                                               std::string log_file,
                                                               std::optional<std::chrono::milliseconds> timeout) {
  std::unique_ptr<ExecWorker> w(new ExecWorker());
  w->log_ = log_file;
  w->timeout_ = timeout;
  w->slot_ = co_await acquire_process_slot();
  SpawnOptions o;
  o.argv = std::move(command);
  o.cwd = std::move(cwd);
  o.log_file = std::move(log_file);
  o.stdout_pipe = o.stdin_pipe = true;
  w->process_ = co_await Subprocess::async_spawn(std::move(o));
  const auto ex = co_await asio::this_coro::executor;
  w->to_ = std::make_unique<asio::posix::stream_descriptor>(ex, w->process_.release_stdin());
  w->from_ = std::make_unique<asio::posix::stream_descriptor>(ex, w->process_.release_stdout());
  co_return w;
}

ExecWorker::~ExecWorker() {
  to_.reset();
  from_.reset();
}  // process_ kills what is left of the group, without waiting

void ExecWorker::kill() {
  dead_ = true;
  process_.signal(SIGKILL);
}

asio::awaitable<std::vector<Json>> ExecWorker::call(const Json& history) {
  if (dead_) throw Error("the exec command was stopped");
  const std::string line = history.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  boost::system::error_code ec;
  size_t n = 0;
  try {
    co_await asio::async_write(*to_, asio::buffer(line), asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      auto read = asio::async_read_until(*from_, pending_, '\n', asio::redirect_error(asio::use_awaitable, ec));
      if (timeout_) {
        asio::steady_timer timer(co_await asio::this_coro::executor, *timeout_);
        auto got = co_await (std::move(read) || timer.async_wait(asio::use_awaitable));
        if (got.index() == 1) {
          kill();
          throw Error("the exec command gave no reply within " + std::to_string(timeout_->count()) +
                      " ms (timeout): its process group was killed");
        }
        n = std::get<0>(got);
      } else {
        n = co_await std::move(read);
      }
    }
  } catch (const boost::system::system_error&) {
    kill();  // cancelled: the whole group goes at once
    throw;
  }
  if (ec == asio::error::operation_aborted) {
    kill();  // cancelled: the whole group goes at once
    throw boost::system::system_error(ec, "cancelled");
  }
  if (ec || n == 0) {
    dead_ = true;
    throw Error("the exec command gave no reply (exited?); last lines of " + log_ + ":\n" + tail_lines(log_, 10));
  }
  std::string text(asio::buffers_begin(pending_.data()), asio::buffers_begin(pending_.data()) + std::ptrdiff_t(n));
  pending_.consume(n);
  Json records;
  try {
    records = Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw Error("the exec command's reply is not JSON: " + text.substr(0, 200));
  }
  if (!records.is_array())
    throw Error("the exec command must answer a JSON array of records, got " + text.substr(0, 200));
  co_return std::vector<Json>(records.begin(), records.end());
}

asio::awaitable<void> ExecWorker::close() {
  to_.reset();  // end of input: the command may finish
  from_.reset();
  co_await process_.async_stop(std::chrono::seconds(2));
  slot_.reset();
}

}  // namespace skein
