// A one-shot event between coroutines of one loop: set() wakes every waiter, and a wait after it
// completes at once. An Asio channel that set() closes, so neither waiting nor waking costs a
// system call; the stand-in it replaces, a steady_timer at time_point::max cancelled to wake its
// waiters, armed the reactor's timerfd on every wait.
//
// A wait completes with channel_errors::channel_closed once the event is set, or with
// experimental::error::channel_cancelled when the waiting operation is cancelled (then a
// coroutine's next co_await throws, as after a timer's): callers test their own condition in a loop.
//
// Not thread-safe: make it, wait on it and set it on its loop's executor.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/system/error_code.hpp>
#include <utility>

namespace skein {

class LoopEvent {
 public:
  explicit LoopEvent(const boost::asio::any_io_executor& ex) : channel_(ex) {}

  void set() { channel_.close(); }  // idempotent
  bool is_set() const { return !channel_.is_open(); }

  // Completion: void(boost::system::error_code), as above.
  template <typename Token>
  auto async_wait(Token&& token) {
    return channel_.async_receive(std::forward<Token>(token));
  }

 private:
  boost::asio::experimental::channel<void(boost::system::error_code)> channel_;
};

}  // namespace skein
