// Runs n coroutines concurrently on the current executor and waits for all of them (asyncio's
// gather). The first exception is rethrown once all have finished. A cancellation of the caller is
// passed on to every child; once they have finished, it is rethrown as operation_aborted.
#pragma once
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>
#include <vector>

#include "util/loop_event.hpp"

namespace skein {

inline boost::asio::awaitable<void> gather(size_t n, std::function<boost::asio::awaitable<void>(size_t)> task) {
  namespace asio = boost::asio;
  if (n == 0) co_return;
  auto ex = co_await asio::this_coro::executor;
  LoopEvent all_done(ex);
  size_t remaining = n;
  std::exception_ptr first;
  std::vector<asio::cancellation_signal> signals(n);  // the parent's cancellation, passed on
  for (size_t i = 0; i < n; ++i)
    asio::co_spawn(ex, task(i), asio::bind_cancellation_slot(signals[i].slot(), [&](std::exception_ptr e) {
                     if (e && !first) first = e;
                     if (--remaining == 0) all_done.set();
                   }));
  // The children reference this frame: wait until every one has finished, even when cancelled.
  bool cancelled = false;
  while (remaining > 0) {
    boost::system::error_code ec;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!cancelled && (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
      cancelled = true;
      // To go on waiting for the children, deaf to a second cancellation (which would throw at the
      // next wait, the children still running on this frame).
      co_await asio::this_coro::reset_cancellation_state(
          [](asio::cancellation_type) { return asio::cancellation_type::none; });
      for (auto& s : signals) s.emit(asio::cancellation_type::terminal);
    }
  }
  if (cancelled) co_await asio::this_coro::reset_cancellation_state();  // the caller's own again
  if (first) std::rethrow_exception(first);
  if (cancelled) throw boost::system::system_error(asio::error::operation_aborted, "cancelled");
}

}  // namespace skein
