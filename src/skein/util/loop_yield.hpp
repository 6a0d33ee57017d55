// Lets the other work queued on a coroutine's loop run before the coroutine goes on: a graph run
// yields to the other runs between its nodes. The coroutine is resumed after everything queued
// when it yielded.
//
// On an io_context's executor (the run loops') it costs one queued operation: asio's `defer`
// queues it on the running thread's own queue (appended to the shared one, under its lock, once
// the current handler returns) and the coroutine is resumed straight from the io_context's
// executor. `co_await post(ex, use_awaitable)` queues the same way on a loop run by one thread, but
// goes through the type-erased executor twice (a work-tracking copy and a dispatch on the way
// back), and use_awaitable starts a coroutine frame of its own for the operation: awaited as a
// deferred operation, the operation is held in the awaiting frame. On any other executor (a
// strand, a pool) it is that post.
// Call from a coroutine, on its executor's thread: `co_await yield_to_loop();`.
#pragma once
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace skein {

namespace detail {
struct YieldToLoop {
  template <typename Handler>
  void operator()(Handler handler) const {
    const auto ex = boost::asio::get_associated_executor(handler);
    if (const auto* io = ex.template target<boost::asio::io_context::executor_type>())
      boost::asio::defer(boost::asio::bind_executor(*io, std::move(handler)));
    else
      boost::asio::post(std::move(handler));
  }
};
}  // namespace detail

inline auto yield_to_loop() {
  return boost::asio::async_initiate<const boost::asio::deferred_t&, void()>(detail::YieldToLoop{},
                                                                             boost::asio::deferred);
}

}  // namespace skein
