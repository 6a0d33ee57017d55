// The broker and pool contract of SPEC §2.1, pinned with a controllable test engine. Waits are on
// conditions (gates, latches, events), never on sleeps.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "skein/broker.hpp"
#include "test_engine.hpp"

namespace skein {
namespace {

using test::Gate;
using test::test_config;
using test::TestEngine;

struct Factory {
  std::atomic<int> starts{0};
  std::function<void(const EngineConfig&)> before;  // may block or throw
  Broker::Factory make() {
    return [this](const EngineConfig& c) -> std::unique_ptr<Engine> {
      ++starts;
      if (before) before(c);
      return std::make_unique<TestEngine>(c.name);
    };
  }
};

// Records events and lets a test wait for one.
struct Events {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<EngineEvent> seen;
  void attach(Broker& b) {
    b.on_event([this](const EngineEvent& e) {
      std::lock_guard l(mu);
      seen.push_back(e);
      cv.notify_all();
    });
  }
  EngineEvent wait_for(const std::string& engine, EngineEventKind kind) {
    std::unique_lock l(mu);
    EngineEvent found;
    cv.wait(l, [&] {
      for (const auto& e : seen)
        if (e.engine == engine && e.kind == kind) return found = e, true;
      return false;
    });
    return found;
  }
  int count(const std::string& engine, EngineEventKind kind) {
    std::lock_guard l(mu);
    int n = 0;
    for (const auto& e : seen) n += e.engine == engine && e.kind == kind;
    return n;
  }
};

std::string state_of(const Broker& b, const std::string& name) {
  for (const auto& s : b.status())
    if (s.name == name) return to_string(s.state);
  return "?";
}

TEST(BrokerTest, HundredConcurrentAcquiresStartOnce) {
  Factory f;
  Gate gate;
  f.before = [&](const EngineConfig&) { gate.wait(); };
  Broker b({}, f.make());
  b.add(test_config("a"));
  std::vector<std::future<Lease>> leases;
  for (int i = 0; i < 100; ++i) leases.push_back(std::async(std::launch::async, [&] { return b.acquire("a"); }));
  while (f.starts.load() == 0) std::this_thread::yield();  // the first start has begun
  gate.open();
  std::set<Engine*> engines;
  for (auto& l : leases) engines.insert(&l.get().engine());
  EXPECT_EQ(f.starts.load(), 1);
  EXPECT_EQ(engines.size(), 1u);
}

TEST(BrokerTest, FailedStartReachesEveryWaiterAndNextAcquireRetries) {
  Factory f;
  Gate gate;
  test::Latch waiting(1);
  f.before = [&](const EngineConfig&) {
    if (f.starts.load() == 1) {
      waiting.arrive();
      gate.wait();
      throw std::runtime_error("no GPU");
    }
  };
  Broker b({}, f.make());
  b.add(test_config("a"));
  std::vector<std::future<std::string>> results;
  for (int i = 0; i < 8; ++i)
    results.push_back(std::async(std::launch::async, [&] {
      try {
        b.acquire("a");
        return std::string("ok");
      } catch (const EngineError& e) {
        return std::string(e.what());
      }
    }));
  waiting.wait();
  gate.open();
  int failed = 0;
  for (auto& r : results) {
    const std::string msg = r.get();
    // Every waiter of the failed start gets its error; one arriving after it starts afresh.
    if (msg.find("no GPU") != std::string::npos)
      ++failed;
    else
      EXPECT_EQ(msg, "ok");
  }
  EXPECT_GE(failed, 1);
  Lease again = b.acquire("a");
  EXPECT_TRUE(again);
  EXPECT_EQ(state_of(b, "a"), "ready");
  EXPECT_GE(f.starts.load(), 2);
}

TEST(BrokerTest, FailedStartLeavesNothingBehind) {
  Factory f;
  f.before = [](const EngineConfig&) { throw std::runtime_error("bad model"); };
  Broker b({}, f.make());
  b.add(test_config("a"));
  EXPECT_THROW(b.acquire("a"), EngineError);
  EXPECT_EQ(state_of(b, "a"), "stopped");
  EXPECT_EQ(TestEngine::live().load(), 0);
  f.before = nullptr;
  EXPECT_TRUE(b.acquire("a"));
  EXPECT_EQ(f.starts.load(), 2);
}

TEST(BrokerTest, IdleReleaseFiresAfterKeepAlive) {
  Factory f;
  Events ev;  // declared first: the broker emits until it is destroyed
  Broker b({}, f.make());
  ev.attach(b);
  b.add(test_config("a", 0.05));
  const auto t0 = std::chrono::steady_clock::now();
  b.acquire("a").release();
  ev.wait_for("a", EngineEventKind::released);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
  EXPECT_EQ(state_of(b, "a"), "stopped");
}

TEST(BrokerTest, KeepAliveZeroReleasesAtOnceAndNegativeNever) {
  Factory f;
  Broker b({}, f.make());
  b.add(test_config("zero", 0));
  b.add(test_config("forever", -1));
  b.acquire("zero").release();
  b.settle();  // stops run on the lifecycle executor
  EXPECT_EQ(state_of(b, "zero"), "stopped");
  b.acquire("forever").release();
  b.flush(false);
  b.settle();
  EXPECT_EQ(state_of(b, "forever"), "ready");
  b.flush(true);
  b.settle();
  EXPECT_EQ(state_of(b, "forever"), "stopped");
}

TEST(BrokerTest, NeitherFlushStopsALeasedEngine) {
  Factory f;
  Broker b({}, f.make());
  b.add(test_config("a", 0.0001));
  Lease l = b.acquire("a");
  b.flush(false);
  b.flush(true);
  b.settle();
  EXPECT_EQ(state_of(b, "a"), "ready");
  EXPECT_EQ(TestEngine::live().load(), 1);
  l.release();
}

TEST(BrokerTest, ForceFlushStopsRightAfterLastLeaseDrops) {
  Factory f;
  Broker b({}, f.make());
  b.add(test_config("a", -1));
  Lease l1 = b.acquire("a");
  Lease l2 = b.acquire("a");
  b.flush(true);
  l1.release();
  b.settle();
  EXPECT_EQ(state_of(b, "a"), "ready");
  l2.release();
  b.settle();
  EXPECT_EQ(state_of(b, "a"), "stopped");
  EXPECT_EQ(TestEngine::live().load(), 0);
}

TEST(BrokerTest, EvictionPicksLeastRecentlyUsedIdleAndNeverALeasedOne) {
  Factory f;
  BrokerOptions o;
  o.max_loaded = 3;
  Events ev;
  Broker b(o, f.make());
  ev.attach(b);
  for (const char* n : {"a", "b", "c", "d"}) b.add(test_config(n));
  Lease a = b.acquire("a");  // leased throughout
  b.acquire("b").release();  // idle, least recently used
  b.acquire("c").release();  // idle, more recent
  Lease d = b.acquire("d");  // needs room: evicts b (and starts d once b has stopped)
  b.settle();                // b's stop may still be delivering its event on another thread
  EXPECT_EQ(state_of(b, "b"), "stopped");
  EXPECT_EQ(state_of(b, "c"), "ready");
  EXPECT_EQ(state_of(b, "a"), "ready");
  EXPECT_EQ(ev.count("b", EngineEventKind::evicted), 1);
  EXPECT_EQ(ev.count("a", EngineEventKind::evicted), 0);
}

TEST(BrokerTest, WaitsWithATimeoutWhenEveryEngineIsLeased) {
  Factory f;
  BrokerOptions o;
  o.max_loaded = 1;
  o.acquire_timeout = std::chrono::milliseconds(50);
  Broker b(o, f.make());
  b.add(test_config("a"));
  b.add(test_config("b"));
  Lease a = b.acquire("a");
  try {
    b.acquire("b");
    FAIL() << "expected a timeout";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("all in use"), std::string::npos) << e.what();
  }
  EXPECT_EQ(state_of(b, "a"), "ready");
}

TEST(BrokerTest, WaiterGetsRoomWhenALeaseDrops) {
  Factory f;
  BrokerOptions o;
  o.max_loaded = 1;
  Broker b(o, f.make());
  b.add(test_config("a"));
  b.add(test_config("b"));
  Lease a = b.acquire("a");
  auto waiter = std::async(std::launch::async, [&] { return b.acquire("b"); });
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout);
  a.release();
  Lease got = waiter.get();
  EXPECT_EQ(got.name(), "b");
  EXPECT_EQ(state_of(b, "a"), "stopped");
}

TEST(BrokerTest, ABAReleasedEngineStartsAgain) {
  Factory f;
  BrokerOptions o;
  o.max_loaded = 1;
  Broker b(o, f.make());
  b.add(test_config("a"));
  b.add(test_config("b"));
  b.acquire("a").release();
  b.acquire("b").release();
  EXPECT_EQ(state_of(b, "a"), "stopped");
  EXPECT_TRUE(b.acquire("a"));
  EXPECT_EQ(f.starts.load(), 3);
}

TEST(BrokerTest, ExceptionWhileHoldingALeaseLeaksNothing) {
  Factory f;
  Broker b({}, f.make());
  b.add(test_config("a", 0));
  try {
    Lease l = b.acquire("a");
    throw std::runtime_error("user code failed");
  } catch (const std::runtime_error&) {
  }
  b.settle();
  EXPECT_EQ(state_of(b, "a"), "stopped");
  EXPECT_EQ(TestEngine::live().load(), 0);
}

TEST(BrokerTest, MemoryBudgetEvictsToFit) {
  Factory f;
  BrokerOptions o;
  o.memory_budget = 100;
  Broker b(o, f.make());
  auto big = test_config("big");
  big.memory = 70;
  auto other = test_config("other");
  other.memory = 60;
  auto huge = test_config("huge");
  huge.memory = 101;
  b.add(big);
  b.add(other);
  b.add(huge);
  b.acquire("big").release();
  Lease l = b.acquire("other");
  EXPECT_EQ(state_of(b, "big"), "stopped");
  EXPECT_THROW(b.acquire("huge"), EngineError);
}

TEST(BrokerTest, AnEngineThatDiedIsStartedAgainAtTheNextLease) {
  Factory f;
  Broker b({}, f.make());
  b.add(test_config("a"));
  Lease l = b.acquire("a");
  static_cast<TestEngine&>(l.engine()).die();
  EXPECT_FALSE(generate_sync(l.engine(), {}).ok());
  l.release();  // the dead engine is not kept
  b.settle();
  EXPECT_EQ(state_of(b, "a"), "stopped");
  Lease again = b.acquire("a");
  EXPECT_TRUE(generate_sync(again.engine(), {}).ok());
  EXPECT_EQ(f.starts.load(), 2);
}

TEST(BrokerTest, UnknownEngineIsAnError) {
  Broker b({}, Factory().make());
  EXPECT_THROW(b.acquire("nope"), EngineError);
}

// Like LevelDB's cache with an unreleased handle, but reported rather than asserted: the broker's
// close names each engine still leased.
TEST(BrokerTest, LeaseOutlivingTheBrokerIsReportedAndStopsItsEngineWhenDropped) {
  Factory f;
  Lease l;
  Events ev;  // outlives the broker, as listeners must
  {
    Broker b({}, f.make());
    ev.attach(b);
    b.add(test_config("a"));
    b.add(test_config("idle"));
    l = b.acquire("a");
    b.acquire("idle").release();
  }
  EXPECT_EQ(ev.count("a", EngineEventKind::leased_at_close), 1);
  EXPECT_EQ(ev.count("idle", EngineEventKind::leased_at_close), 0);
  EXPECT_EQ(ev.count("idle", EngineEventKind::released), 1);
  EXPECT_EQ(TestEngine::live().load(), 1);
  l.release();
  EXPECT_EQ(TestEngine::live().load(), 0);
}

// Two files of one host that declare an engine name differently: the second is refused with both
// places, and nothing of it is declared. The same declaration twice, a reload of the same file and
// a file replacing the built-in `local` are fine.
TEST(BrokerTest, AnEngineNameDeclaredDifferentlyByTwoFilesIsRefusedWithBothPlaces) {
  Broker broker;
  declare_engines(broker, parse_engines_file("engines:\n  fast:\n    backend: openai\n    endpoint: http://a/v1\n"
                                             "    model: m1\n",
                                             "/x/a.yaml"));
  const std::string other =
      "engines:\n  extra:\n    backend: openai\n    endpoint: http://c/v1\n    model: e\n"
      "  fast:\n    backend: openai\n    endpoint: http://b/v1\n    model: m2\n";
  try {
    declare_engines(broker, parse_engines_file(other, "/x/b.yaml"));
    FAIL() << "a conflicting declaration was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.code(), ErrorCode::already_exists);
    EXPECT_NE(std::string(e.what()).find("/x/b.yaml:6"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/x/a.yaml:2"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(broker.contains("extra"));
  EXPECT_EQ(broker.config("fast")->model, "m1");
  declare_engines(broker, parse_engines_file("engines:\n  fast:\n    backend: openai\n    endpoint: http://a/v1\n"
                                             "    model: m1\n",
                                             "/x/c.yaml"));  // the same configuration: fine
  declare_engines(broker, parse_engines_file("engines:\n  fast:\n    backend: openai\n    endpoint: http://z/v1\n"
                                             "    model: m3\n",
                                             "/x/a.yaml"));  // its own file, reloaded
  EXPECT_EQ(broker.config("fast")->model, "m3");
  declare_engines(broker, parse_engines_file("engines:\n  local:\n    backend: openai\n    endpoint: http://l/v1\n"
                                             "    model: l\n",
                                             "/x/d.yaml"));  // replaces the built-in
  EXPECT_EQ(broker.config("local")->backend, "openai");
}

}  // namespace
}  // namespace skein

namespace skein {
namespace {
// Sizes a size_t cannot hold are refused with the reason, not converted (undefined behaviour).
TEST(ParseBytesTest, ASizeBeyondWhatAMachineCountsIsRefused) {
  EXPECT_EQ(parse_bytes("2GiB"), size_t(2) << 30);
  EXPECT_EQ(parse_bytes("512 MB"), size_t(512'000'000));
  EXPECT_THROW(parse_bytes("83333333333333333333333333333GiB"), Error);
  EXPECT_THROW(parse_bytes("1e30"), Error);
}
}  // namespace
}  // namespace skein
