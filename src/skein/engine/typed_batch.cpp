#include "typed_batch.hpp"

#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <utility>

#include "skein/mutex.hpp"
#include "util/loop_event.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;

// The requests of one call and their outcomes. Lives in the awaiting coroutine's frame until every
// request has completed: the engine's callbacks hold a plain pointer to it.
class TypedBatch {
 public:
  TypedBatch(Engine& engine, std::vector<GenerateRequest> reqs, int retries, const asio::any_io_executor& ex)
      : engine_(engine),
        reqs_(std::move(reqs)),
        outs_(reqs_.size()),
        pending_(reqs_.size()),
        retries_(retries),
        remaining_(reqs_.size()),
        loop_(asio::prefer(ex, asio::execution::outstanding_work.tracked)),  // the loop runs until the last reply
        all_done_(ex) {}

  asio::awaitable<std::vector<TypedOutcome>> run() {
    for (size_t i = 0; i < reqs_.size(); ++i) ask(i);
    bool cancelled = false;
    while (remaining_ > 0) {
      boost::system::error_code ec;
      co_await all_done_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!cancelled && (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
        cancelled = stopping_ = true;
        // To go on waiting for the replies, deaf to a second cancellation (which would throw at
        // the next wait, the requests still in flight).
        co_await asio::this_coro::reset_cancellation_state(
            [](asio::cancellation_type) { return asio::cancellation_type::none; });
        for (auto& p : pending_)
          if (p) p->cancel();
      }
    }
    loop_ = {};
    if (cancelled) co_await asio::this_coro::reset_cancellation_state();  // the coroutine's own again
    if (failure_) std::rethrow_exception(failure_);
    if (cancelled) throw boost::system::system_error(asio::error::operation_aborted, "cancelled");
    co_return std::move(outs_);
  }

 private:
  struct Reply {
    size_t index;
    GenerateResult result;
  };

  // On the loop: one more attempt of request i, whose reply arrives exactly once.
  void ask(size_t i) {
    ++outs_[i].attempts;
    ++outs_[i].engine_calls;
    try {
      pending_[i] = engine_.submit(reqs_[i], [this, i](GenerateResult r) { arrive(i, std::move(r)); });
    } catch (...) {  // as in a coroutine per request: the request ends, the others go on
      fail(std::current_exception());
    }
  }

  // On the loop: a request ended by an exception; run() rethrows the first once all have ended.
  void fail(std::exception_ptr e) {
    if (!failure_) failure_ = e;
    ended();
  }

  void ended() {
    if (--remaining_ == 0) all_done_.set();
  }

  // On any thread (the caller's when the engine answers at once): the reply queued, and a drain
  // posted unless one is already on its way. After the unlock nothing of `this` is touched: the
  // drain that takes the last reply may end the batch before this post returns.
  void arrive(size_t i, GenerateResult r) {
    asio::any_io_executor loop;
    {
      MutexLock l(mu_);
      arrived_.push_back({i, std::move(r)});
      if (drain_posted_) return;
      drain_posted_ = true;
      loop = loop_;  // this thread's own hold on the loop until its post has returned
    }
    asio::post(loop, [this] { drain(); });
  }

  // On the loop: every reply queued so far taken; a refused one asked again at once.
  void drain() {
    {
      MutexLock l(mu_);
      std::swap(arrived_, draining_);
      drain_posted_ = false;
    }
    for (Reply& reply : draining_) {
      const size_t i = reply.index;
      pending_[i].reset();
      try {
        count_engine_time(reply.result, outs_[i]);
        if (take_attempt(std::move(reply.result), reqs_[i], outs_[i]) && !stopping_ && outs_[i].attempts <= retries_) {
          ask(i);
          continue;
        }
      } catch (...) {  // e.g. the validator's: it must not leave the loop while requests are in flight
        fail(std::current_exception());
        continue;
      }
      ended();
    }
    draining_.clear();
  }

  Engine& engine_;
  std::vector<GenerateRequest> reqs_;
  std::vector<TypedOutcome> outs_;
  std::vector<std::shared_ptr<PendingRequest>> pending_;
  const int retries_;
  size_t remaining_;  // requests without their outcome
  bool stopping_ = false;
  std::exception_ptr failure_;  // the first request ended by an exception
  asio::any_io_executor loop_;
  LoopEvent all_done_;
  std::vector<Reply> draining_;
  Mutex mu_;
  std::vector<Reply> arrived_ SKEIN_GUARDED_BY(mu_);
  bool drain_posted_ SKEIN_GUARDED_BY(mu_) = false;
};

}  // namespace

asio::awaitable<std::vector<TypedOutcome>> generate_typed_all(Engine& engine, std::vector<GenerateRequest> reqs,
                                                              int retries) {
  if (reqs.empty()) co_return std::vector<TypedOutcome>{};
  const asio::any_io_executor ex = co_await asio::this_coro::executor;  // named: see typed_generation.cpp
  TypedBatch batch(engine, std::move(reqs), retries, ex);
  co_return co_await batch.run();
}

}  // namespace skein
