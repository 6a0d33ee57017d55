// The engine layer's concurrency (SPEC §2.1): async_acquire's queue (FIFO, bounded, cancellable),
// remote engines outside the room accounting, chains and graphs over more engines than
// max_loaded, graph engines, a registry loop that never stalls on an engine start, exec children
// awaited without threads, and the limits from files. Fake engines that count starts and stops.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "engine/process/subprocess.hpp"
#include "scratch.hpp"
#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "skein/executors.hpp"
#include "skein/graph_lm.hpp"
#include "skein/run_registry.hpp"
#include "test_engine.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::Gate;
using test::SchemaEngine;

// Starts SchemaEngines; counts starts per engine; an optional hook runs before each (may block:
// it runs on the broker's lifecycle executor).
struct CountingFactory {
  std::mutex mu;
  std::map<std::string, int> starts;
  std::function<void(const EngineConfig&)> before;
  Broker::Factory make() {
    return [this](const EngineConfig& c) -> std::unique_ptr<Engine> {
      {
        std::lock_guard l(mu);
        ++starts[c.name];
      }
      if (before) before(c);
      return std::make_unique<SchemaEngine>(c.name);
    };
  }
  int of(const std::string& name) {
    std::lock_guard l(mu);
    return starts.count(name) ? starts[name] : 0;
  }
  int total() {
    std::lock_guard l(mu);
    int n = 0;
    for (auto& [k, v] : starts) n += v;
    return n;
  }
};

EngineConfig config(const std::string& name, const std::string& backend = "llama") {
  EngineConfig c = test::test_config(name);
  c.backend = backend;
  return c;
}

// Runs `io` on a thread of its own until the object is destroyed.
struct Loop {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~Loop() {
    work.reset();
    thread.join();
  }
};

TEST(EngineLayerTest, HundredAsyncAcquiresOfAStartingEngineStartOnceAndCompleteInFifoOrder) {
  CountingFactory f;
  Gate gate;
  f.before = [&](const EngineConfig&) { gate.wait(); };
  Broker b({}, f.make());
  b.add(config("a"));
  Loop loop;
  std::mutex mu;
  std::vector<int> order;
  std::vector<Lease> leases;
  test::Latch all(100);
  for (int i = 0; i < 100; ++i)  // completions on one loop thread: the order they run in is the order granted
    b.async_acquire("a", asio::bind_executor(loop.io, [&, i](std::exception_ptr e, Lease l) {
                      std::lock_guard lock(mu);
                      if (!e) order.push_back(i), leases.push_back(std::move(l));
                      all.arrive();
                    }));
  while (f.of("a") == 0) std::this_thread::yield();  // the one start has begun
  gate.open();
  all.wait();
  EXPECT_EQ(f.of("a"), 1);
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[size_t(i)], i);
  std::lock_guard lock(mu);
  leases.clear();
}

TEST(EngineLayerTest, OneRequestPastMaxQueueIsRefusedAtOnceWithTheReason) {
  CountingFactory f;
  Gate gate;
  f.before = [&](const EngineConfig&) { gate.wait(); };
  BrokerOptions o;
  o.max_queue = 8;
  Broker b(o, f.make());
  b.add(config("a"));
  std::mutex mu;
  std::vector<std::string> refused;
  int served = 0;
  test::Latch all(9);
  for (int i = 0; i < 9; ++i)
    b.async_acquire("a", [&](std::exception_ptr e, Lease) {
      std::lock_guard lock(mu);
      if (e) try {
          std::rethrow_exception(e);
        } catch (const EngineError& err) {
          refused.push_back(err.what());
        }
      else
        ++served;
      all.arrive();
    });
  // The ninth is refused while the start is still held back: at once, not after a wait.
  for (bool seen = false; !seen; std::this_thread::yield()) {
    std::lock_guard lock(mu);
    seen = !refused.empty();
  }
  const int served_before_start = served;
  gate.open();
  all.wait();
  EXPECT_EQ(served_before_start, 0);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_NE(refused[0].find("8 requests already waiting"), std::string::npos) << refused[0];
  EXPECT_EQ(served, 8);
}

TEST(EngineLayerTest, ACancelledRequestLeavesTheQueueAtOnce) {
  CountingFactory f;
  Gate gate;
  f.before = [&](const EngineConfig&) { gate.wait(); };
  Broker b({}, f.make());
  b.add(config("a"));
  Loop loop;
  std::promise<std::string> outcome;
  asio::cancellation_signal cancel;
  asio::post(loop.io, [&] {
    b.async_acquire("a", asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, Lease) {
                      try {
                        if (e) std::rethrow_exception(e);
                        outcome.set_value("leased");
                      } catch (const boost::system::system_error& err) {
                        outcome.set_value(err.code() == asio::error::operation_aborted ? "aborted" : err.what());
                      }
                    }));
  });
  while (f.of("a") == 0) std::this_thread::yield();
  asio::post(loop.io, [&] { cancel.emit(asio::cancellation_type::terminal); });
  EXPECT_EQ(outcome.get_future().get(), "aborted");  // while the start still runs
  gate.open();
  b.settle();
}

TEST(EngineLayerTest, RemoteEnginesNeitherCountTowardMaxLoadedNorWaitForRoom) {
  CountingFactory f;
  BrokerOptions o;
  o.max_loaded = 1;
  o.acquire_timeout = 50ms;
  Broker b(o, f.make());
  b.add(config("model"));
  b.add(config("api", "openai"));
  b.add(config("tool", "cli"));
  Lease local = b.acquire("model");
  Lease api = b.acquire("api");  // no room for a local engine, but a remote one needs none
  Lease tool = b.acquire("tool");
  EXPECT_TRUE(api && tool);
  for (const auto& s : b.status()) EXPECT_EQ(s.state, EngineState::ready) << s.name;
  b.add(config("other"));
  EXPECT_THROW(b.acquire("other"), EngineError);  // the local one does wait, and times out
}

TEST(EngineLayerTest, AStartingEngineCountsTowardTheBudgetWithItsEstimatedSize) {
  CountingFactory f;
  Gate gate;
  f.before = [&](const EngineConfig& c) {
    if (c.name == "big") gate.wait();
  };
  BrokerOptions o;
  o.memory_budget = 100;
  Broker b(o, f.make());
  EngineConfig big = config("big"), other = config("other");
  big.memory = 70, other.memory = 60;
  b.add(big);
  b.add(other);
  auto first = std::async(std::launch::async, [&] { return b.acquire("big"); });
  while (f.of("big") == 0) std::this_thread::yield();
  auto second = std::async(std::launch::async, [&] { return b.acquire("other"); });
  EXPECT_EQ(second.wait_for(50ms), std::future_status::timeout);
  EXPECT_EQ(f.of("other"), 0) << "started while the starting engine filled the budget";
  gate.open();
  first.get().release();  // idle now: evicted to make room
  EXPECT_TRUE(second.get());
  EXPECT_EQ(f.of("other"), 1);
}

// max_loaded 1; A is always in use (a new lease could be taken before the old one drops). A
// request for B must not wait forever: once B waits, A serves no new lease, and A is evicted when
// its last lease drops; a later request for A gets it back after B.
TEST(EngineLayerTest, ARequestForRoomIsNotStarvedByAnEngineThatIsNeverIdle) {
  CountingFactory f;
  BrokerOptions o;
  o.max_loaded = 1;
  Broker b(o, f.make());
  b.add(config("a"));
  b.add(config("b"));
  Lease first = b.acquire("a");
  std::mutex mu;
  std::vector<std::string> granted;
  std::map<std::string, Lease> held;
  test::Latch both(2);
  auto record = [&](std::exception_ptr e, Lease l) {
    std::lock_guard lock(mu);
    if (!e) granted.push_back(l.name()), held[l.name()] = std::move(l);
    both.arrive();
  };
  b.async_acquire("b", record);  // queued (no room); A now yields
  b.async_acquire("a", record);  // A is ready, but serves no new lease: queued behind B
  first.release();               // A's last lease: A is evicted, B starts
  for (bool got_b = false; !got_b; std::this_thread::yield()) {
    std::lock_guard lock(mu);
    got_b = held.count("b") > 0;
  }
  {
    std::lock_guard lock(mu);
    held["b"].release();  // B idle: A's request evicts it and gets A again
  }
  both.wait();
  std::lock_guard lock(mu);
  EXPECT_EQ(granted, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(f.of("a"), 2);
  held.clear();
}

// Budget 16: X (10) leased, three idle engines of 1; Y (8) cannot fit until X goes, so the idle
// ones are not evicted in vain.
TEST(EngineLayerTest, UnderABudgetOnlyEvictionsThatMakeRoomHappen) {
  CountingFactory f;
  BrokerOptions o;
  o.max_loaded = 10;
  o.memory_budget = 16;
  Broker b(o, f.make());
  auto sized = [](const std::string& name, size_t memory) {
    EngineConfig c = config(name);
    c.memory = memory;
    return c;
  };
  b.add(sized("x", 10));
  b.add(sized("y", 8));
  for (int i = 0; i < 3; ++i) b.add(sized("small" + std::to_string(i), 1));
  Lease x = b.acquire("x");
  for (int i = 0; i < 3; ++i) b.acquire("small" + std::to_string(i)).release();
  std::promise<Lease> y;
  b.async_acquire("y", [&](std::exception_ptr, Lease l) { y.set_value(std::move(l)); });  // queued: no room
  b.settle();  // whatever the request set off has happened
  for (const auto& st : b.status())
    if (st.name.rfind("small", 0) == 0) EXPECT_EQ(st.state, EngineState::ready) << st.name << " evicted in vain";
  x.release();  // X yields: stopped, and Y fits
  EXPECT_TRUE(y.get_future().get());
}

TEST(EngineLayerTest, LazyFalseEnginesStartWhenDeclared) {
  CountingFactory f;
  Broker b({}, f.make());
  EngineConfig eager = config("eager"), lazy = config("lazy");
  eager.lazy = false;
  declare_engines(b, {{"eager", eager}, {"lazy", lazy}});
  b.settle();
  EXPECT_EQ(f.of("eager"), 1);
  EXPECT_EQ(f.of("lazy"), 0);
  EXPECT_EQ(f.of("local"), 0);
}

// A chain of five steps, each on its own engine.
std::string five_engine_chain(const std::string& backend_lines) {
  std::string yaml = "chain: five\nengines:\n";
  for (int i = 1; i <= 5; ++i) yaml += "  e" + std::to_string(i) + ": {" + backend_lines + "}\n";
  yaml += "types:\n  N: {type: object, properties: {n: {type: integer}}, required: [n]}\nbatch_size: 4\nsteps:\n";
  for (int i = 1; i <= 5; ++i)
    yaml += "  - step: s" + std::to_string(i) + "\n    engine: e" + std::to_string(i) +
            "\n    output: N\n    user: \"{{ row_id }}\"\n";
  return yaml;
}

fs::path scratch(const std::string& name) {
  const fs::path dir = test::scratch_root() / ("engine-layer-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(EngineLayerTest, AChainOfFiveStepsOnFiveEnginesCompletesWithMaxLoadedTwo) {
  CountingFactory f;
  BrokerOptions o;
  o.max_loaded = 2;
  std::atomic<int> stops{0};  // before the broker: its destructor's stops are heard too
  Broker b(o, f.make());
  b.on_event([&](const EngineEvent& e) {
    if (e.kind == EngineEventKind::evicted || e.kind == EngineEventKind::released) ++stops;
  });
  const fs::path dir = scratch("chain5");
  {
    std::ofstream in(dir / "in.jsonl");
    for (int i = 0; i < 20; ++i) in << "{\"x\": " << i << "}\n";
  }
  const Chain chain = parse_chain(five_engine_chain("backend: llama, model: /dev/null"), (dir / "c.yaml").string());
  RunOptions ro;
  ro.input_path = (dir / "in.jsonl").string();
  ro.output_dir = (dir / "out").string();
  ro.broker = &b;
  const int before = SchemaEngine::stopped_in_use().load();
  const RunSummary s = run_chain(chain, ro);
  EXPECT_EQ(s.status, ChainStatus::done);
  EXPECT_EQ(s.records_out, 20u);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(s.nodes.at("s" + std::to_string(i)).out, 20u);
  EXPECT_GE(f.total(), 5);
  b.settle();  // a stop's event may still be on its way
  EXPECT_GT(stops.load(), 0) << "five engines through two places: some were evicted";
  EXPECT_EQ(SchemaEngine::stopped_in_use().load(), before) << "an engine was stopped while leased";
  int loaded = 0;
  for (const auto& st : b.status()) loaded += st.state != EngineState::stopped;
  EXPECT_LE(loaded, 2);
}

// Five nodes in a line, each on its own engine; each node's one model field is filled on it.
const char* kFiveEngineGraph = R"(graph: five
start: N0
engine: e1
engines:
  e1: {backend: llama, model: /dev/null}
  e2: {backend: llama, model: /dev/null}
  e3: {backend: llama, model: /dev/null}
  e4: {backend: llama, model: /dev/null}
  e5: {backend: llama, model: /dev/null}
nodes:
  N0: {fields: {q: {type: string}}, next: [N1]}
  N1: {fields: {x: {type: integer}}, next: [N2]}
  N2: {engine: e2, fields: {x: {type: integer}}, next: [N3]}
  N3: {engine: e3, fields: {x: {type: integer}}, next: [N4]}
  N4: {engine: e4, fields: {x: {type: integer}}, next: [N5]}
  N5: {engine: e5, fields: {x: {type: integer}}, next: [end]}
)";

// Runs `g` once in a registry, its LM leasing from `b`, to its end (at most 20 s).
RunSnapshot run_to_end(Broker& b, std::shared_ptr<const Graph> g, Json input) {
  EngineLM lm(b, g->engine);
  RunRegistry registry;
  GraphJob job;
  job.graph = std::move(g);
  job.input = std::move(input);
  job.lm = &lm;
  const std::string id = registry.submit(job);
  EXPECT_TRUE(registry.wait_until(
      id, [](const RunSnapshot& s) { return is_finished(s.state); }, 20s));
  return *registry.get(id);
}

// Replies from a script, one per request, noting each request's seed and last message.
class SeedNoting : public Engine {
 public:
  explicit SeedNoting(std::vector<std::string> replies) : replies_(std::move(replies)) {}
  const std::string& name() const override { return name_; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest req, std::function<void(GenerateResult)> done) override {
    seeds.push_back(req.sampling.seed.value_or(0));
    last_messages.push_back(req.messages.back().content);
    GenerateResult r;
    r.text = replies_.at(seeds.size() - 1);
    r.finish = Finish::stop;
    done(std::move(r));
    return std::make_shared<Nothing>();
  }
  std::vector<uint32_t> seeds;
  std::vector<std::string> last_messages;

 private:
  struct Nothing : PendingRequest {
    void cancel() override {}
  };
  std::string name_ = "seeds";
  std::vector<std::string> replies_;
};

// A graph's model calls and a chain's Steps retry through one loop: a refused reply is shown to
// the model with the reason, and a set seed moves on by one (the graph's calls used to keep it).
TEST(EngineLayerTest, AGraphsModelCallRetriesLikeAChainStepWithTheReasonAndTheNextSeed) {
  SeedNoting engine({R"({"next": "nowhere"})", R"({"next": "B"})"});
  Sampling sampling;
  sampling.seed = 7;
  EngineLM lm([&](const std::string&) -> Engine& { return engine; }, "seeds", sampling, 2);
  NodeType from;
  from.name = "A";
  const std::vector<std::string> next{"B", "end"};  // outlive the coroutine, which holds references
  const Json context = Json::object();
  asio::io_context io;
  auto chosen = asio::co_spawn(io, lm.choose_type(from, next, context), asio::use_future);
  io.run();
  const LMReply<std::string> reply = chosen.get();
  EXPECT_EQ(reply.value, "B");
  EXPECT_EQ(engine.seeds, (std::vector<uint32_t>{7, 8}));
  ASSERT_EQ(engine.last_messages.size(), 2u);
  EXPECT_NE(engine.last_messages[1].find("That reply is invalid"), std::string::npos) << engine.last_messages[1];
}

TEST(EngineLayerTest, AGraphOnFiveEnginesCompletesWithMaxLoadedTwoAndNeverLoadsLocal) {
  CountingFactory f;
  BrokerOptions o;
  o.max_loaded = 2;
  Broker b(o, f.make());
  auto g = std::make_shared<Graph>(parse_graph(kFiveEngineGraph, "/g/five.yaml"));
  declare_engines(b, g->engines);
  const RunSnapshot r = run_to_end(b, g, {{"q", "hi"}});
  EXPECT_EQ(r.state, RunState::done) << r.error;
  EXPECT_EQ(r.trace.size(), 6u);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(f.of("e" + std::to_string(i)), 1) << "e" << i;
  EXPECT_EQ(f.of("local"), 0) << "no node names local: it is never loaded";
}

// N1 chooses between N2 and N3; N1's engine answers only routing choices, N2's only fills: the
// choice after N1 must go to N1's engine and the fill of N2 to N2's.
TEST(EngineLayerTest, TheChoiceAfterANodeUsesItsEngineAndTheFillUsesTheTargets) {
  const char* yaml = R"(graph: route
start: N1
engines:
  chooser: {backend: llama, model: /dev/null}
  filler: {backend: llama, model: /dev/null}
nodes:
  N1: {engine: chooser, fields: {q: {type: string}}, next: [N2, N3]}
  N2: {engine: filler, fields: {x: {type: integer}}, next: [end]}
  N3: {engine: filler, fields: {y: {type: integer}}, next: [end]}
)";
  std::map<std::string, std::vector<std::string>> asked;  // engine -> the output types it got
  std::mutex mu;
  struct Recording : SchemaEngine {
    Recording(std::string n, std::map<std::string, std::vector<std::string>>& a, std::mutex& m)
        : SchemaEngine(n), asked(a), mu(m), engine(std::move(n)) {}
    std::shared_ptr<PendingRequest> submit(GenerateRequest req, std::function<void(GenerateResult)> done) override {
      {
        std::lock_guard l(mu);
        asked[engine].push_back(req.output->name());
      }
      return SchemaEngine::submit(std::move(req), std::move(done));
    }
    std::map<std::string, std::vector<std::string>>& asked;
    std::mutex& mu;
    std::string engine;
  };
  Broker b({}, [&](const EngineConfig& c) -> std::unique_ptr<Engine> {
    return std::make_unique<Recording>(c.name, asked, mu);
  });
  auto g = std::make_shared<Graph>(parse_graph(yaml, "/g/route.yaml"));
  declare_engines(b, g->engines);
  const RunSnapshot r = run_to_end(b, g, {{"q", "hi"}});
  EXPECT_EQ(r.state, RunState::done) << r.error;
  std::lock_guard l(mu);
  EXPECT_EQ(asked["chooser"], std::vector<std::string>{"Next"});
  EXPECT_EQ(asked["filler"], std::vector<std::string>{"N2"});
  EXPECT_EQ(asked.count("local"), 0u);
}

// While one engine takes 2 s to start (on the lifecycle executor), the registry's loop goes on: a
// run on another engine makes 1,000 transitions and a cancel of a third run lands within 100 ms.
// (Under a sanitizer every step is many times slower: 100 transitions and 500 ms there.)
#ifdef SKEIN_SANITIZED
constexpr int kTransitions = 100;
constexpr auto kCancelBound = 500ms;
#else
constexpr int kTransitions = 1000;
constexpr auto kCancelBound = 100ms;
#endif
TEST(EngineLayerTest, AnEngineStartingFor2sStallsNoOtherRunOnTheLoop) {
  const char* yaml = R"(graph: loop
start: N
max_iters: 0
engines:
  slow: {backend: llama, model: /dev/null}
  fast: {backend: llama, model: /dev/null}
nodes:
  N: {engine: fast, fields: {x: {type: integer}}, next: [N, end]}
)";
  const char* slow_yaml = R"(graph: slow
start: A
engines:
  slow: {backend: llama, model: /dev/null}
nodes:
  A: {fields: {q: {type: string}}, next: [B]}
  B: {engine: slow, fields: {x: {type: integer}}, next: [end]}
)";
  const char* gated_yaml = R"(graph: gated
start: A
nodes:
  A: {fields: {q: {type: string}}, next: [B]}
  B: {fields: {ok: {type: boolean, gate: "ok?"}}, next: [end]}
)";
  CountingFactory f;
  std::atomic<bool> slow_started{false};
  f.before = [&](const EngineConfig& c) {
    if (c.name != "slow") return;
    std::this_thread::sleep_for(2s);  // a model load, on the lifecycle executor
    slow_started = true;
  };
  Broker b({}, f.make());
  auto loop = std::make_shared<Graph>(parse_graph(yaml, "/g/loop.yaml"));
  auto slow = std::make_shared<Graph>(parse_graph(slow_yaml, "/g/slow.yaml"));
  auto gated = std::make_shared<Graph>(parse_graph(gated_yaml, "/g/gated.yaml"));
  declare_engines(b, loop->engines);
  EngineLM lm(b);
  RegistryOptions ro;
  ro.history = 10;
  RunRegistry registry(ro);
  GraphJob s;
  s.graph = slow, s.input = {{"q", "x"}}, s.lm = &lm;
  const std::string slow_id = registry.submit(s);
  while (f.of("slow") == 0) std::this_thread::yield();  // its start is under way
  GraphJob c;
  c.graph = gated, c.input = {{"q", "x"}}, c.lm = &lm;
  const std::string gated_id = registry.submit(c);
  ASSERT_TRUE(registry.wait_until(
      gated_id, [](const RunSnapshot& r) { return r.state == RunState::waiting; }, 1s));
  GraphJob l;
  l.graph = loop, l.input = {{"x", 0}}, l.lm = &lm;
  int transitions = 0;
  l.handlers["N"] = [&](const TraceEntry&) {
    return ++transitions < kTransitions ? std::string("N") : std::string("end");
  };
  const std::string loop_id = registry.submit(l);
  ASSERT_TRUE(registry.wait_until(
      loop_id, [](const RunSnapshot& r) { return is_finished(r.state); }, 10s));
  EXPECT_EQ(registry.get(loop_id)->state, RunState::done) << registry.get(loop_id)->error;
  EXPECT_GE(registry.get(loop_id)->trace.size(), size_t(kTransitions));
  EXPECT_FALSE(slow_started.load()) << "the transitions waited for the slow start";
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(registry.cancel(gated_id));
  ASSERT_TRUE(registry.wait_until(
      gated_id, [](const RunSnapshot& r) { return is_finished(r.state); }, 1s));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(registry.get(gated_id)->state, RunState::cancelled);
  EXPECT_LT(took, kCancelBound);
  EXPECT_FALSE(slow_started.load()) << "the cancel was measured after the slow start ended";
  ASSERT_TRUE(registry.wait_until(
      slow_id, [](const RunSnapshot& r) { return is_finished(r.state); }, 10s));
  EXPECT_EQ(registry.get(slow_id)->state, RunState::done) << registry.get(slow_id)->error;
}

// A chain run cancelled while its `exec` Apply runs forever ends CANCELLED within 1 s, and no
// process of the command's group is left.
TEST(EngineLayerTest, CancellingAChainRunInAnEndlessExecApplyLeavesNoProcess) {
  const fs::path dir = scratch("endless");
  std::ofstream(dir / "in.jsonl") << "{\"x\": 1}\n";
  const std::string yaml =
      "chain: endless\nsteps:\n  - apply: forever\n    fn: exec\n    command: [sh, -c, 'echo $$ > " +
      (dir / "pid").string() + "; exec sleep 1000']\n";
  auto chain = std::make_shared<Chain>(parse_chain(yaml, (dir / "c.yaml").string()));
  RunRegistry registry;
  ChainJob job;
  job.chain = chain;
  job.options.input_path = (dir / "in.jsonl").string();
  job.options.output_dir = (dir / "out").string();
  const std::string id = registry.submit(job);
  int pid = 0;
  while (pid == 0) {
    std::ifstream(dir / "pid") >> pid;
    std::this_thread::yield();
  }
  ASSERT_TRUE(process_group_alive(pid));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(registry.cancel(id));
  ASSERT_TRUE(registry.wait_until(
      id, [](const RunSnapshot& r) { return is_finished(r.state); }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(registry.get(id)->state, RunState::cancelled) << registry.get(id)->error;
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (process_group_alive(pid) && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_FALSE(process_group_alive(pid)) << "the exec command's group survived the cancel";
}

// An exec Apply that outlasts its `timeout` makes that record an error record; the next record
// gets a fresh command. The timeout also covers a fresh command's start: CI's parallel sanitizer
// run once took over 3 s to start python3, so the command is a shell (milliseconds to start) and
// the timeout is generous: only the hanging record may reach it.
TEST(EngineLayerTest, AnExecApplyPastItsTimeoutIsAnErrorRecordAndTheNextRecordGoesOn) {
  const fs::path dir = scratch("timeout");
  std::ofstream(dir / "in.jsonl") << "{\"x\": 1}\n{\"x\": 2}\n{\"x\": 3}\n";
  // Hangs on the record with x == 2; answers one record for the others.
  const std::string yaml =
      "chain: slowapply\nbatch_size: 1\nsteps:\n  - apply: maybe\n    fn: exec\n    timeout: 5\n    command: "
      "[sh, -c, 'while read -r l; do case \"$l\" in *\\\"x\\\":2*) sleep 100;; esac; echo \"[{\\\"ok\\\": 1}]\"; "
      "done']\n";
  const Chain chain = parse_chain(yaml, (dir / "c.yaml").string());
  RunOptions ro;
  ro.input_path = (dir / "in.jsonl").string();
  ro.output_dir = (dir / "out").string();
  const RunSummary s = run_chain(chain, ro);
  EXPECT_EQ(s.status, ChainStatus::done);
  EXPECT_EQ(s.records_out, 2u);
  EXPECT_EQ(s.errors, 1u);
  std::ifstream errors(dir / "out/errors.jsonl");
  std::string line;
  std::getline(errors, line);
  EXPECT_NE(line.find("timeout"), std::string::npos) << line;
}

// Native deps, handlers and effects run on the registry's blocking pool, never on its loop.
TEST(EngineLayerTest, UserCodeOfAGraphRunRunsOffTheLoop) {
  const char* yaml = R"(graph: user
start: A
nodes:
  A: {fields: {q: {type: string}}, next: [B]}
  B: {fields: {v: {dep: native, type: integer}}, next: [B, end]}
)";
  Graph g = parse_graph(yaml, "/g/user.yaml");
  std::mutex mu;
  std::map<std::string, std::thread::id> where;
  auto note = [&](const std::string& what) {
    std::lock_guard l(mu);
    where[what] = std::this_thread::get_id();
  };
  g.functions["native"] = [&](const Json&) {
    note("dep");
    return Json(1);
  };
  CountingFactory f;
  Broker b({}, f.make());
  EngineLM lm(b);
  RunRegistry registry;
  GraphJob job;
  job.graph = std::make_shared<Graph>(std::move(g));
  job.input = {{"q", "x"}};
  job.lm = &lm;
  job.handlers["B"] = [&](const TraceEntry&) {
    note("handler");
    return std::string("end");
  };
  job.effects["*"] = [&](const TraceEntry&) { note("effect"); };
  std::promise<std::thread::id> loop;
  asio::post(registry.executor(), [&] { loop.set_value(std::this_thread::get_id()); });
  const std::thread::id loop_id = loop.get_future().get();
  const std::string id = registry.submit(job);
  ASSERT_TRUE(registry.wait_until(
      id, [](const RunSnapshot& r) { return is_finished(r.state); }, 10s));
  EXPECT_EQ(registry.get(id)->state, RunState::done) << registry.get(id)->error;
  std::lock_guard l(mu);
  for (const char* what : {"dep", "handler", "effect"}) {
    ASSERT_TRUE(where.count(what)) << what << " never ran";
    EXPECT_NE(where[what], loop_id) << what << " ran on the registry's loop";
  }
}

// A native Apply function runs on the blocking executor, not on the chain's loop (where progress is
// reported).
TEST(EngineLayerTest, ANativeApplyFunctionRunsOffTheChainsLoop) {
  const fs::path dir = scratch("native");
  std::ofstream(dir / "in.jsonl") << "{\"x\": 1}\n{\"x\": 2}\n";
  Chain chain = parse_chain("chain: native\nsteps:\n  - apply: twice\n    fn: twice\n", (dir / "c.yaml").string());
  std::mutex mu;
  std::set<std::thread::id> fn_threads, loop_threads;
  chain.functions["twice"] = [&](const Json& h) {
    std::lock_guard l(mu);
    fn_threads.insert(std::this_thread::get_id());
    return std::vector<Json>{h["chain_input"], h["chain_input"]};
  };
  RunOptions ro;
  ro.input_path = (dir / "in.jsonl").string();
  ro.output_dir = (dir / "out").string();
  ro.on_progress = [&](const RunProgress&) {
    std::lock_guard l(mu);
    loop_threads.insert(std::this_thread::get_id());
  };
  const RunSummary s = run_chain(chain, ro);
  EXPECT_EQ(s.records_out, 4u);
  std::lock_guard l(mu);
  ASSERT_FALSE(fn_threads.empty());
  for (const auto& t : fn_threads) EXPECT_EQ(loop_threads.count(t), 0u) << "the function ran on the chain's loop";
}

// Two exec Apply nodes with one process slot: each command holds the slot only while it works on a
// record, so the run cannot starve itself.
TEST(EngineLayerTest, ExecApplyNodesShareFewerProcessSlotsThanThereAreNodes) {
  const fs::path dir = scratch("slots");
  std::ofstream(dir / "in.jsonl") << "{\"x\": 1}\n{\"x\": 2}\n";
  const std::string echo =
      "[python3, -c, \"import sys,json\\nfor l in sys.stdin: print(json.dumps([1]), flush=True)\"]";
  const Chain chain = parse_chain("chain: slots\nsteps:\n  - apply: one\n    fn: exec\n    command: " + echo +
                                      "\n  - apply: two\n    fn: exec\n    command: " + echo + "\n",
                                  (dir / "c.yaml").string());
  set_max_processes(1);
  RunOptions ro;
  ro.input_path = (dir / "in.jsonl").string();
  ro.output_dir = (dir / "out").string();
  auto done = std::async(std::launch::async, [&] { return run_chain(chain, ro); });
  const bool finished = done.wait_for(20s) == std::future_status::ready;
  set_max_processes(64);  // frees a starved run too, so the test can end
  ASSERT_TRUE(finished) << "the run starved itself of process slots";
  const RunSummary s = done.get();
  EXPECT_EQ(s.status, ChainStatus::done);
  EXPECT_EQ(s.records_out, 2u);
}

// A large record to a command that never reads it: the write cannot complete, and the timeout still
// fires.
TEST(EngineLayerTest, TheExecTimeoutCoversALargeRecordTheCommandNeverReads) {
  const fs::path dir = scratch("bigrecord");
  std::ofstream(dir / "in.jsonl") << "{\"x\": \"" << std::string(300000, 'a') << "\"}\n";
  const Chain chain =
      parse_chain("chain: deaf\nsteps:\n  - apply: deaf\n    fn: exec\n    timeout: 0.3\n    command: [sleep, '100']\n",
                  (dir / "c.yaml").string());
  RunOptions ro;
  ro.input_path = (dir / "in.jsonl").string();
  ro.output_dir = (dir / "out").string();
  const RunSummary s = run_chain(chain, ro);
  EXPECT_EQ(s.errors, 1u);
  std::ifstream errors(dir / "out/errors.jsonl");
  std::string line;
  std::getline(errors, line);
  EXPECT_NE(line.find("timeout"), std::string::npos) << line.substr(0, 300);
}

TEST(EngineLayerTest, BrokerLimitsComeFromTheFile) {
  const Chain c = parse_chain(
      "chain: lim\nbroker: {max_loaded: 2, memory_budget: 8GiB, acquire_timeout: 1.5, max_queue: 10, max_processes: "
      "7}\n"
      "steps:\n  - apply: keep\n    fn: filter\n    where: 'true'\n",
      "/c/lim.yaml");
  const BrokerOptions o = broker_options(c.broker);
  EXPECT_EQ(o.max_loaded, 2);
  EXPECT_EQ(o.memory_budget, size_t(8) << 30);
  EXPECT_EQ(o.acquire_timeout, 1500ms);
  EXPECT_EQ(o.max_queue, 10u);
  EXPECT_EQ(c.broker.max_processes, 7);
  try {
    parse_chain("chain: lim\nbroker:\n  memory_budget: lots\nsteps: []\n", "/c/bad.yaml");
    FAIL() << "a bad size was taken";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/c/bad.yaml:3"), std::string::npos) << e.what();
  }
}

TEST(EngineLayerTest, AnOptionOfAnotherBackendIsRefusedAtItsLineNamingTheBackendsOptions) {
  try {
    parse_chain(
        "chain: x\nengines:\n  m:\n    backend: llama\n    model: /m.gguf\n    endpoint: http://h/v1\nsteps: []\n",
        "/c/x.yaml");
    FAIL() << "endpoint on a llama engine was taken";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("/c/x.yaml:6"), std::string::npos) << what;
    EXPECT_NE(
        what.find(
            "does not apply to backend llama (its options: context, batch, threads, prefix_cache, prefix_cache_cells)"),
        std::string::npos)
        << what;
  }
}

}  // namespace
}  // namespace skein
