// Blocking work (user code, file work) run on another executor while the run's loop goes on; the
// coroutine resumes on its own executor with the result (or the exception). When `ex` is the
// coroutine's own executor (a run given no blocking executor), `f()` is simply called: a hop to the
// same loop would only cost a spawned coroutine and two posts.
//
// A cancellation of the caller does not reach `f` (user code cannot be interrupted): the caller
// resumes once `f` has returned, and its next co_await throws. (Passed on, Boost 1.81's co_spawn
// also throws operation_aborted out of the finished child, on `ex`'s thread: std::terminate.)
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>

namespace skein {

// `f()` on `ex`. Pass a named callable: it is used by reference until the call completes (GCC 12
// destroys some temporaries of a co_await twice, so none are made here).
template <typename F>
boost::asio::awaitable<std::invoke_result_t<F&>> run_on(boost::asio::any_io_executor ex, F& f) {
  using R = std::invoke_result_t<F&>;
  const boost::asio::any_io_executor own = co_await boost::asio::this_coro::executor;
  if (ex == own) co_return f();
  co_return co_await boost::asio::co_spawn(
      ex, [&f]() -> boost::asio::awaitable<R> { co_return f(); },
      boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(), boost::asio::use_awaitable));
}

}  // namespace skein
