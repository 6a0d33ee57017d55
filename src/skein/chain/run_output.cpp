#include "run_output.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace skein {

namespace asio = boost::asio;

asio::awaitable<void> RunOutput::put(BatchOutput batch) {
  rethrow();
  const asio::any_io_executor own = co_await asio::this_coro::executor;
  while (waiting_ >= kBatchesAhead) {
    LoopEvent room(own);  // in this frame: it goes before the loop's io_context does
    room_ = &room;
    const struct Forget {
      LoopEvent*& room;
      ~Forget() { room = nullptr; }
    } forget{room_};
    boost::system::error_code ec;  // set, or cancelled: then the next co_await throws
    co_await room.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    rethrow();
  }
  ++waiting_;
  // Work the loop waits for: its io_context runs until every batch handed over is written.
  const auto loop = asio::prefer(own, asio::execution::outstanding_work.tracked);
  asio::post(pool_, [this, loop, batch = std::move(batch)]() mutable {
    write(batch);
    asio::post(loop, [this] {
      --waiting_;
      if (room_) room_->set();
    });
  });
}

void RunOutput::write(BatchOutput& batch) {
  {
    std::lock_guard l(mu_);
    if (error_) return;  // the run fails with the first
  }
  try {
    batch.lines.write_to(writer_);
    if (!batch.run.is_null()) {
      Json& resume = batch.run["resume"];
      resume["files"] = writer_.positions();
      writer_.run_json(batch.run);
      last_checkpoint_ = std::move(resume);
    }
  } catch (...) {
    std::lock_guard l(mu_);
    error_ = std::current_exception();
  }
}

void RunOutput::finish() {
  pool_.join();
  rethrow();
}

void RunOutput::rethrow() {
  std::lock_guard l(mu_);
  if (error_) std::rethrow_exception(error_);
}

}  // namespace skein
