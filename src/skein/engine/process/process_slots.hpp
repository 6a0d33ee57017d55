// The process-wide limit on concurrent `exec` children (set_max_processes): an async semaphore.
// A slot is awaited without a thread and given back when its Slot is dropped; waiters are served in
// arrival order; a cancelled wait leaves the queue at once. Thread-safe.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <memory>

namespace skein {

class ProcessSlot {
 public:
  ProcessSlot() = default;
  ProcessSlot(ProcessSlot&& o) noexcept : held_(std::exchange(o.held_, false)) {}
  ProcessSlot& operator=(ProcessSlot&& o) noexcept {
    if (this != &o) reset(), held_ = std::exchange(o.held_, false);
    return *this;
  }
  ~ProcessSlot() { reset(); }
  void reset();

 private:
  friend boost::asio::awaitable<ProcessSlot> acquire_process_slot();
  bool held_ = false;
};

// Completes on the coroutine's executor once a slot is free.
boost::asio::awaitable<ProcessSlot> acquire_process_slot();

}  // namespace skein
