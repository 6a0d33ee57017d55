// Broker benchmark (prints a table):
//   - a warm async_acquire + release from a coroutine (goal <= 1 us per pair);
//   - the loop's stall while another engine starts for 500 ms: the largest gap between two ticks of
//     a 1 ms timer on the loop (goal <= 5 ms), with async_acquire, and with the blocking acquire
//     called on the loop as the engine layer did before;
//   - single-flight cold starts (N waiters, one start);
//   - a chain over 4 engines with max_loaded 2 on instant fake engines: records/s and engine
//     starts per 1,000 records.
#include <fmt/format.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "../tests/test_engine.hpp"
#include "skein/broker.hpp"
#include "skein/chain.hpp"

namespace {

namespace asio = boost::asio;
using namespace skein;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Engine> instant(const EngineConfig& c) { return std::make_unique<test::TestEngine>(c.name); }

double warm_async_pair_ns(int iterations) {
  Broker broker({}, instant);
  broker.add(test::test_config("warm", -1));
  broker.acquire("warm").release();  // started and idle
  asio::io_context io;
  double ns = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const auto t0 = Clock::now();
        for (int i = 0; i < iterations; ++i) (co_await broker.async_acquire("warm", asio::use_awaitable)).release();
        ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / iterations;
      },
      asio::detached);
  io.run();
  return ns;
}

// The largest gap between ticks of a 1 ms timer on a loop that, meanwhile, leases an engine whose
// start takes 500 ms: with async_acquire, or with the blocking acquire called on the loop.
double loop_stall_ms(bool blocking) {
  Broker broker({}, [](const EngineConfig& c) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a model load
    return instant(c);
  });
  broker.add(test::test_config("slow"));
  asio::io_context io;
  double worst = 0;
  bool leased = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io);
        auto last = Clock::now();
        while (!leased) {
          timer.expires_after(std::chrono::milliseconds(1));
          co_await timer.async_wait(asio::use_awaitable);
          const auto now = Clock::now();
          worst = std::max(worst, std::chrono::duration<double, std::milli>(now - last).count());
          last = now;
        }
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer settle(io, std::chrono::milliseconds(20));
        co_await settle.async_wait(asio::use_awaitable);
        Lease l;  // no co_await inside ?: (GCC 12 destroys its temporary twice)
        if (blocking)
          l = broker.acquire("slow");
        else
          l = co_await broker.async_acquire("slow", asio::use_awaitable);
        leased = true;
      },
      asio::detached);
  io.run();
  return worst;
}

struct Cold {
  int starts;
  double ms;
};

Cold cold_start(int waiters) {
  std::atomic<int> starts{0};
  BrokerOptions o;
  o.max_queue = size_t(waiters);  // every waiter queues behind the one start
  Broker broker(o, [&](const EngineConfig& c) {
    ++starts;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a start that takes time
    return instant(c);
  });
  broker.add(test::test_config("cold"));
  std::vector<std::thread> pool;
  const auto t0 = Clock::now();
  for (int i = 0; i < waiters; ++i) pool.emplace_back([&] { broker.acquire("cold"); });
  for (auto& th : pool) th.join();
  return {starts.load(), std::chrono::duration<double, std::milli>(Clock::now() - t0).count()};
}

struct ChainFigures {
  double records_per_s, starts_per_1000;
};

ChainFigures four_engine_chain(int records) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("skein-broker-bench-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream in(dir / "in.jsonl");
    for (int i = 0; i < records; ++i) in << "{\"x\": " << i << "}\n";
  }
  std::string yaml = "chain: four\nengines:\n";
  for (int i = 1; i <= 4; ++i) yaml += fmt::format("  e{}: {{backend: llama, model: /dev/null}}\n", i);
  yaml += "types:\n  N: {type: object, properties: {n: {type: integer}}, required: [n]}\nbatch_size: 64\nsteps:\n";
  for (int i = 1; i <= 4; ++i) yaml += fmt::format("  - step: s{0}\n    engine: e{0}\n    output: N\n    user: x\n", i);
  const Chain chain = parse_chain(yaml, (dir / "c.yaml").string());
  std::atomic<int> starts{0};
  BrokerOptions o;
  o.max_loaded = 2;
  Broker broker(o, [&](const EngineConfig& c) {
    ++starts;
    return std::make_unique<test::SchemaEngine>(c.name);
  });
  RunOptions ro;
  ro.input_path = (dir / "in.jsonl").string();
  ro.output_dir = (dir / "out").string();
  ro.broker = &broker;
  const auto t0 = Clock::now();
  const RunSummary s = run_chain(chain, ro);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  fs::remove_all(dir);
  return {double(s.records_out) / seconds, 1000.0 * starts.load() / records};
}

}  // namespace

int main() {
  fmt::print("broker benchmark\n\n| measure | value | goal |\n|---|---:|---:|\n");
  fmt::print("| warm async_acquire + release from a coroutine, ns per pair | {:.0f} | <= 1000 |\n",
             warm_async_pair_ns(1'000'000));
  fmt::print("| loop stall during a 500 ms engine start, async_acquire, max tick gap ms | {:.2f} | <= 5 |\n",
             loop_stall_ms(false));
  fmt::print("| the same with the blocking acquire on the loop (the old way), ms | {:.2f} | |\n", loop_stall_ms(true));
  const ChainFigures c = four_engine_chain(20'000);
  fmt::print("| chain over 4 instant engines, max_loaded 2, records/s (20,000 records) | {:.0f} | |\n",
             c.records_per_s);
  fmt::print("| the same, engine starts per 1,000 records | {:.1f} | |\n", c.starts_per_1000);
  fmt::print("\n| cold start | waiters | starts | wall ms (one 20 ms start) |\n|---|---:|---:|---:|\n");
  for (int waiters : {1, 10, 100, 1000}) {
    const Cold cold = cold_start(waiters);
    fmt::print("| single-flight start | {} | {} | {:.1f} |\n", waiters, cold.starts, cold.ms);
  }
  return 0;
}
