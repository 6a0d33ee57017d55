// Runs coroutines concurrently and waits until all have finished or one has failed, whichever is
// first: the first failure is rethrown at once, while the others go on detached. Each task must
// therefore own (or share) everything it uses.
#pragma once
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <vector>

#include "util/loop_event.hpp"

namespace skein {

inline boost::asio::awaitable<void> all_or_first_failure(std::vector<boost::asio::awaitable<void>> tasks) {
  namespace asio = boost::asio;
  if (tasks.empty()) co_return;
  struct State {
    explicit State(const asio::any_io_executor& ex, size_t n) : wake(ex), left(n) {}
    LoopEvent wake;
    size_t left;
    std::exception_ptr first;
  };
  auto ex = co_await asio::this_coro::executor;
  auto state = std::make_shared<State>(ex, tasks.size());
  for (auto& task : tasks)
    asio::co_spawn(ex, std::move(task), [state](std::exception_ptr e) {
      if (e && !state->first) state->first = e;
      if (--state->left == 0 || e) state->wake.set();
    });
  while (state->left > 0 && !state->first) {
    boost::system::error_code ec;
    co_await state->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (state->first) std::rethrow_exception(state->first);
}

}  // namespace skein
