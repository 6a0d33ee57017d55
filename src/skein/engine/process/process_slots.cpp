#include "process_slots.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <list>
#include <mutex>
#include <vector>

#include "skein/cross_thread_completion.hpp"
#include "skein/executors.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;

// A waiting acquire: called once with true (a slot is its) or false (cancelled). `queued` is
// cleared under the lock when it leaves the queue.
struct Waiter {
  std::function<void(bool)> complete;
  std::shared_ptr<bool> queued;
};

struct Slots {
  std::mutex mu;
  int limit = 64, in_use = 0;
  std::list<Waiter> waiting;
};

Slots& slots() {
  static Slots* s = new Slots();  // never destroyed: children may end during exit
  return *s;
}

}  // namespace

void set_max_processes(int n) {
  std::vector<std::function<void(bool)>> woken;  // a raised limit serves the waiting at once
  {
    Slots& s = slots();
    std::lock_guard l(s.mu);
    s.limit = n < 1 ? 1 : n;
    while (s.in_use < s.limit && !s.waiting.empty()) {
      ++s.in_use;
      woken.push_back(std::move(s.waiting.front().complete));
      *s.waiting.front().queued = false;
      s.waiting.pop_front();
    }
  }
  for (auto& w : woken) w(true);
}

int max_processes() {
  std::lock_guard l(slots().mu);
  return slots().limit;
}

void ProcessSlot::reset() {
  if (!std::exchange(held_, false)) return;
  std::function<void(bool)> next;
  {
    Slots& s = slots();
    std::lock_guard l(s.mu);
    if (!s.waiting.empty() && s.in_use <= s.limit) {
      next = std::move(s.waiting.front().complete);  // the slot passes to the first waiter
      *s.waiting.front().queued = false;
      s.waiting.pop_front();
    } else {
      --s.in_use;
    }
  }
  if (next) next(true);
}

asio::awaitable<ProcessSlot> acquire_process_slot() {
  auto initiate = [](auto handler) {
    auto cancel_slot = asio::get_associated_cancellation_slot(handler);
    auto complete = [done = detail::cross_thread_completion(std::move(handler))](bool got) mutable {
      done(got ? std::exception_ptr()
               : std::make_exception_ptr(boost::system::system_error(asio::error::operation_aborted, "cancelled")));
    };
    Slots& s = slots();
    std::unique_lock l(s.mu);
    if (s.in_use < s.limit && s.waiting.empty()) {
      ++s.in_use;
      l.unlock();
      return complete(true);
    }
    auto queued = std::make_shared<bool>(true);
    auto pos = s.waiting.insert(s.waiting.end(), Waiter{std::move(complete), queued});
    if (cancel_slot.is_connected())
      cancel_slot.assign([pos, queued](asio::cancellation_type) {
        std::function<void(bool)> cancelled;
        {
          std::lock_guard l(slots().mu);
          if (!*queued) return;
          cancelled = std::move(pos->complete);
          slots().waiting.erase(pos);
        }
        cancelled(false);
      });
  };
  co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr)>(initiate, asio::use_awaitable);
  ProcessSlot slot;
  slot.held_ = true;
  co_return slot;
}

}  // namespace skein
