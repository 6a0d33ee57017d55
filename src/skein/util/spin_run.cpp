#include "spin_run.hpp"

#include <thread>

namespace skein {

void spin_run(boost::asio::io_context& io, std::chrono::nanoseconds spin) {
  if (spin.count() <= 0 || std::thread::hardware_concurrency() < 2) {
    io.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  auto idle_since = Clock::now();
  for (;;) {
    if (io.poll() > 0) {
      idle_since = Clock::now();
      continue;
    }
    if (io.stopped()) return;  // out of work, or stopped
    if (Clock::now() - idle_since < spin) {
      std::this_thread::yield();  // a thread waiting for this core runs first
      continue;
    }
    if (io.run_one() == 0) return;  // sleeps until a handler has run
    idle_since = Clock::now();
  }
}

}  // namespace skein
