#include "spin_run.hpp"

#include <sched.h>

#include <thread>

namespace skein {

namespace {

// The CPUs this thread may run on (its affinity; a container's cpuset), 1 when it cannot tell.
int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return CPU_COUNT(&set);
}

}  // namespace

void spin_run(boost::asio::io_context& io, std::chrono::nanoseconds spin) {
  if (spin.count() <= 0 || usable_cpus() < 2) {
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
