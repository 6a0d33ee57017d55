#include "exec_worker.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/multiple_exceptions.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "skein/error.hpp"
#include "util/parse_json.hpp"

namespace skein {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

asio::awaitable<std::unique_ptr<ExecWorker>> ExecWorker::start(std::vector<std::string> command, std::string cwd,
                                                               std::string log_file,
                                                               std::optional<std::chrono::milliseconds> timeout) {
  std::unique_ptr<ExecWorker> w(new ExecWorker());
  w->log_ = log_file;
  w->timeout_ = timeout;
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
  const ProcessSlot slot = co_await acquire_process_slot();  // held while it works on this record
  const std::string line = history.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  // Written and read at once, so neither a large record nor a large reply can stall the other.
  auto exchange = [&]() -> asio::awaitable<size_t> {
    auto [wrote, got] = co_await (asio::async_write(*to_, asio::buffer(line), asio::use_awaitable) &&
                                  asio::async_read_until(*from_, pending_, '\n', asio::use_awaitable));
    co_return got;
  };
  std::optional<size_t> n;  // the reply line's length; none: timed out
  std::string failure;
  // A failed write or read: the command is gone (its reason is in its log), or we were cancelled.
  auto failed = [&](std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) {
        kill();  // cancelled: the whole group goes at once
        throw;
      }
      failure = e.code().message();
    }
  };
  try {
    if (timeout_) {
      asio::steady_timer timer(co_await asio::this_coro::executor, *timeout_);
      auto got = co_await (exchange() || timer.async_wait(asio::use_awaitable));
      if (got.index() == 0) n = std::get<0>(got);
    } else {
      n = co_await exchange();
    }
  } catch (const asio::multiple_exceptions& e) {  // the write and the read both failed
    failed(e.first_exception());
  } catch (const boost::system::system_error&) {
    failed(std::current_exception());
  }
  if (!n && failure.empty()) {
    kill();
    throw Error("the exec command gave no reply within " + std::to_string(timeout_->count()) +
                " ms (timeout): its process group was killed");
  }
  if (!failure.empty() || *n == 0) {
    dead_ = true;
    throw Error("the exec command gave no reply (" + failure + "; exited?); last lines of " + log_ + ":\n" +
                tail_lines(log_, 10));
  }
  std::string text(asio::buffers_begin(pending_.data()), asio::buffers_begin(pending_.data()) + std::ptrdiff_t(*n));
  pending_.consume(*n);
  Json records;
  try {
    records = parse_json(text);
  } catch (const Json::exception& e) {
    throw Error("the exec command's reply is not JSON: " + text.substr(0, 200));
  }
  if (!records.is_array())
    throw Error("the exec command must answer a JSON array of records, got " + text.substr(0, 200));
  co_return std::move(records.get_ref<Json::array_t&>());
}

asio::awaitable<void> ExecWorker::close() {
  to_.reset();  // end of input: the command may finish by itself
  from_.reset();
  co_await (process_.async_wait() || async_sleep(std::chrono::seconds(2)));
  co_await process_.async_stop(std::chrono::seconds(2));  // then SIGTERM, SIGKILL
}

}  // namespace skein
