// Broker benchmark: the cost of a warm acquire + release (goal <= 1 us), and cold-start
// concurrency (N threads acquire one stopped engine at once: exactly one start). Prints a table.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "../tests/test_engine.hpp"
#include "skein/broker.hpp"

namespace {

using namespace skein;
using Clock = std::chrono::steady_clock;

double warm_acquire_release_ns(int threads, int iterations) {
  Broker broker({}, [](const EngineConfig& c) { return std::make_unique<test::TestEngine>(c.name); });
  broker.add(test::test_config("warm", -1));
  broker.acquire("warm").release();  // started and idle
  std::vector<std::thread> pool;
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int i = 0; i < iterations; ++i) broker.acquire("warm").release();
    });
  for (auto& th : pool) th.join();
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / (double(threads) * iterations);
}

struct Cold {
  int starts;
  double ms;
};

Cold cold_start(int waiters) {
  std::atomic<int> starts{0};
  Broker broker({}, [&](const EngineConfig& c) {
    ++starts;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a start that takes time
    return std::make_unique<test::TestEngine>(c.name);
  });
  broker.add(test::test_config("cold"));
  std::vector<std::thread> pool;
  std::atomic<int> ok{0};
  const auto t0 = Clock::now();
  for (int i = 0; i < waiters; ++i)
    pool.emplace_back([&] {
      if (broker.acquire("cold")) ++ok;
    });
  for (auto& th : pool) th.join();
  return {starts.load(), std::chrono::duration<double, std::milli>(Clock::now() - t0).count()};
}

}  // namespace

int main() {
  fmt::print("broker benchmark\n\n| warm acquire + release | threads | ns per pair |\n|---|---:|---:|\n");
  for (int threads : {1, 2, 4})
    fmt::print("| lease of a ready engine | {} | {:.0f} |\n", threads,
               warm_acquire_release_ns(threads, 1'000'000 / threads));
  fmt::print("\n| cold start | waiters | starts | wall ms (one 20 ms start) |\n|---|---:|---:|---:|\n");
  for (int waiters : {1, 10, 100, 1000}) {
    const Cold c = cold_start(waiters);
    fmt::print("| single-flight start | {} | {} | {:.1f} |\n", waiters, c.starts, c.ms);
  }
  return 0;
}
