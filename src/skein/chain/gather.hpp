// Runs n coroutines concurrently on the current executor and waits for all of them (asyncio's
// gather). The first exception is rethrown once all have finished.
#pragma once
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>

namespace skein {

inline boost::asio::awaitable<void> gather(size_t n, std::function<boost::asio::awaitable<void>(size_t)> task) {
  namespace asio = boost::asio;
  if (n == 0) co_return;
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
  size_t remaining = n;
  std::exception_ptr first;
  for (size_t i = 0; i < n; ++i)
    asio::co_spawn(ex, task(i), [&](std::exception_ptr e) {
      if (e && !first) first = e;
      if (--remaining == 0) all_done.cancel();
    });
  // The children reference this frame: wait until every one has finished, even when cancelled.
  while (remaining > 0) {
    boost::system::error_code ec;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace skein
