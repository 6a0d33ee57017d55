// The run registry with an instant LM: ids and states, bounded history, gates (WAITING, typed
// answers, any order, asked again on a revisit, timeout, cancel while waiting), per-run event
// streams that never mix, per-node and per-dep timing, and 1,000 concurrent runs.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include <unistd.h>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include "engine/process/subprocess.hpp"
#include "runtime/run_json.hpp"
#include "scratch.hpp"
#include "skein/run_registry.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Fills every model field from its type (first enum value, true, 1, or the node's name) and
// chooses the first candidate, or `choose` when it is among them.
class InstantLM : public GraphLM {
 public:
  std::string choose = "end";
  std::atomic<int> fills{0};
  asio::awaitable<LMReply<std::string>> choose_type(const NodeType&, const std::vector<std::string>& types,
                                                    const Json&) override {
    const bool listed = std::find(types.begin(), types.end(), choose) != types.end();
    co_return LMReply<std::string>{listed ? choose : types[0], {5, 1}};
  }
  asio::awaitable<LMReply<Json>> fill(const NodeType& target, const Json&, const std::string&,
                                      const TraceEntry&) override {
    ++fills;
    Json out = Json::object();
    for (const Field* f : model_fields(target)) {
      const Json& s = f->type->schema();
      const std::string t = s.value("type", "");
      out[f->name] = s.contains("enum") ? s["enum"][0]
                     : t == "boolean"   ? Json(true)
                     : t == "integer"   ? Json(1)
                                        : Json(target.name);
    }
    co_return LMReply<Json>{out, {10, 3}};
  }
};

const char* kGated = R"(graph: outfit
start: Ask
max_iters: 6
nodes:
  Ask:
    fields: {who: {type: string}}
    next: [Suggest]
  Suggest:
    fields:
      weather: {dep: forecast, type: string}
      outfit: {type: string}
      size: {type: integer, gate: "Which size?"}
      approved: {type: boolean, gate: "Approve this outfit?"}
    next: [Suggest, end]
)";

class RunRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Graph g = parse_graph(kGated, "/g/outfit.yaml");
    g.functions["forecast"] = [](const Json&) { return Json("rain"); };
    graph_ = std::make_shared<Graph>(std::move(g));
  }
  GraphJob job(Json input = {{"who", "ada"}}) {
    GraphJob j;
    j.graph = graph_;
    j.input = std::move(input);
    j.lm = &lm_;
    return j;
  }
  RunState wait_state(const std::string& id, RunState want) {
    registry_.wait_until(
        id, [&](const RunSnapshot& s) { return s.state == want || is_finished(s.state); }, 20s);
    return registry_.get(id)->state;
  }
  std::vector<GateInfo> wait_gates(const std::string& id, size_t n) {
    registry_.wait_until(
        id, [&](const RunSnapshot& s) { return s.gates.size() == n || is_finished(s.state); }, 20s);
    return registry_.get(id)->gates;
  }
  // Every event heard by a listener, by run; waits until `n` runs have ended.
  void listen() {
    registry_.subscribe([this](const RunEvent& e) {
      {
        std::lock_guard l(mu_);
        heard_[e.run].push_back(e);
        if (e.kind == RunEventKind::done || e.kind == RunEventKind::failed || e.kind == RunEventKind::cancelled) {
          ended_[to_string(e.kind)]++;
          ended_order_.push_back(e.run);
        }
      }
      cv_.notify_all();
    });
  }
  bool wait_ended(int n) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, 60s, [&] { return ended_["done"] + ended_["failed"] + ended_["cancelled"] >= n; });
  }
  InstantLM lm_;
  std::shared_ptr<Graph> graph_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<RunEvent>> heard_;
  std::map<std::string, int> ended_;
  std::vector<std::string> ended_order_;  // runs in the order they ended
  RunRegistry registry_;                  // last: destroyed first, while the rest is still there
};

TEST_F(RunRegistryTest, AGateWaitsAnswersAreTypedAndTakenInAnyOrder) {
  const std::string id = registry_.submit(job());
  EXPECT_EQ(id, "g1");
  const auto gates = wait_gates(id, 2);
  ASSERT_EQ(gates.size(), 2u) << registry_.get(id)->error;
  EXPECT_EQ(registry_.get(id)->state, RunState::waiting);
  EXPECT_EQ(registry_.pending_gates(), 2u);
  EXPECT_EQ(gates[0].id, "g1.1");
  EXPECT_EQ(gates[0].field, "size");
  EXPECT_EQ(gates[1].question, "Approve this outfit?");
  try {
    registry_.answer("g1.1", "large");
    FAIL() << "a string was accepted for an integer gate";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(R"(refused: "large" is not of the type {"type":"integer"})"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(registry_.pending_gates(), 2u);  // still open
  registry_.answer("g1.2", true);            // the second first
  EXPECT_EQ(registry_.get(id)->state, RunState::waiting);
  registry_.answer("g1.1", 42);
  EXPECT_EQ(wait_state(id, RunState::done), RunState::done);
  const auto run = *registry_.get(id);
  EXPECT_EQ(run.trace.back().fields["size"], 42);
  EXPECT_EQ(run.trace.back().fields["approved"], true);
  EXPECT_EQ(run.trace.back().fields["weather"], "rain");
  EXPECT_THROW(registry_.answer("g1.1", 1), Error);  // closed
  EXPECT_EQ(registry_.pending_gates(), 0u);
}

TEST_F(RunRegistryTest, ARevisitedNodeAsksAgainAndCancelWhileWaitingEndsTheRun) {
  lm_.choose = "Suggest";  // Suggest -> Suggest -> …
  const std::string id = registry_.submit(job());
  auto gates = wait_gates(id, 2);
  registry_.answer(gates[0].id, 1);
  registry_.answer(gates[1].id, false);
  gates = wait_gates(id, 2);  // the second Suggest asks again, with new ids
  ASSERT_EQ(gates.size(), 2u);
  EXPECT_EQ(gates[0].id, id + ".3");
  EXPECT_TRUE(registry_.cancel(id));
  EXPECT_EQ(wait_state(id, RunState::cancelled), RunState::cancelled);
  EXPECT_EQ(registry_.pending_gates(), 0u);
  EXPECT_FALSE(registry_.cancel(id));  // finished
  const auto events = registry_.events(id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, RunEventKind::cancelled);
}

// wait_until: its condition is checked at each change of the run by the thread that made it (a
// gate's answer is one), and the caller is woken once it holds: the caller checks it once, before
// it waits. False when the time is up first; what the condition throws is thrown to the caller.
TEST_F(RunRegistryTest, WaitUntilIsWokenByTheChangeAfterWhichItsConditionHoldsAndThrowsWhatItThrows) {
  const std::string id = registry_.submit(job());
  const auto gates = wait_gates(id, 2);
  ASSERT_EQ(gates.size(), 2u);
  EXPECT_FALSE(registry_.wait_until(
      id, [](const RunSnapshot& s) { return is_finished(s.state); }, 20ms));

  // The gates answered from another thread once the caller checks (it holds the registry's lock
  // from that first check until it waits, so the answers come while it waits).
  std::promise<void> first_check;
  std::once_flag once;
  std::thread answering([&] {
    first_check.get_future().wait();
    registry_.answer(gates[0].id, 1);
    registry_.answer(gates[1].id, true);
  });
  const auto caller = std::this_thread::get_id();
  std::atomic<int> on_caller{0}, elsewhere{0};
  EXPECT_TRUE(registry_.wait_until(
      id,
      [&](const RunSnapshot& s) {
        ++(std::this_thread::get_id() == caller ? on_caller : elsewhere);
        std::call_once(once, [&] { first_check.set_value(); });
        return s.gates.size() == 1;  // after the first answer: checked by the answering thread
      },
      20s));
  EXPECT_EQ(on_caller.load(), 1);
  EXPECT_GE(elsewhere.load(), 1);
  answering.join();
  EXPECT_EQ(wait_state(id, RunState::done), RunState::done);

  const std::string second = registry_.submit(job());
  ASSERT_EQ(wait_gates(second, 2).size(), 2u);
  std::promise<void> second_check;  // answered once the caller waits, as above
  std::once_flag second_once;
  std::thread answer_second([&] {
    second_check.get_future().wait();
    registry_.answer(second + ".1", 1);
    registry_.answer(second + ".2", true);
  });
  EXPECT_THROW(registry_.wait_until(
                   second,
                   [&](const RunSnapshot& s) -> bool {  // throws on the thread that changed the run
                     std::call_once(second_once, [&] { second_check.set_value(); });
                     if (std::this_thread::get_id() != caller && s.state == RunState::done)
                       throw InvalidArgumentError("no done runs here");
                     return false;
                   },
                   20s),
               InvalidArgumentError);
  answer_second.join();
}

TEST_F(RunRegistryTest, AnUnansweredGateTimesOut) {
  GraphJob j = job();
  j.gate_timeout = 50ms;
  const std::string id = registry_.submit(std::move(j));
  EXPECT_EQ(wait_state(id, RunState::failed), RunState::failed);
  EXPECT_NE(registry_.get(id)->error.find("not answered within 50 ms"), std::string::npos) << registry_.get(id)->error;
}

TEST_F(RunRegistryTest, FinishedRunsBeyondTheHistoryAreForgottenActiveOnesKept) {
  listen();
  GraphJob gated = job();
  gated.graph = std::make_shared<Graph>(*graph_);  // keeps its gates: it stays WAITING
  const std::string parked = registry_.submit(std::move(gated));
  graph_->nodes.at("Suggest").fields.resize(2);  // no gates: these runs end at once
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) ids.push_back(registry_.submit(job()));
  ASSERT_TRUE(wait_ended(25));     // the events; the states follow them
  std::vector<std::string> order;  // not the submission order: their deps run on a thread pool
  {
    std::lock_guard l(mu_);
    order = ended_order_;
  }
  ASSERT_EQ(order.size(), 25u);
  for (size_t i = 5; i < order.size(); ++i)
    EXPECT_TRUE(registry_.wait_until(
        order[i], [](const RunSnapshot& s) { return is_finished(s.state); }, 20s))
        << order[i];
  const auto runs = registry_.list();
  size_t finished = 0;
  for (const auto& r : runs) finished += is_finished(r.state);
  EXPECT_EQ(finished, 20u);  // the registry keeps 20 finished runs: the five oldest are gone
  EXPECT_EQ(runs.size(), 21u);
  EXPECT_EQ(runs.front().id, parked);  // the active run is kept
  for (size_t i = 0; i < 5; ++i) EXPECT_FALSE(registry_.get(order[i]).has_value()) << order[i];  // the first to end
  for (size_t i = 5; i < 25; ++i) EXPECT_TRUE(registry_.get(order[i]).has_value()) << order[i];
  EXPECT_EQ(ids[24], "g26");
}

TEST_F(RunRegistryTest, TimingsFollowTheTraceAndDepsAreTimed) {
  graph_->nodes.at("Suggest").fields.resize(2);
  const std::string id = registry_.submit(job());
  ASSERT_EQ(wait_state(id, RunState::done), RunState::done);
  const auto run = *registry_.get(id);
  ASSERT_EQ(run.nodes.size(), run.trace.size());
  int64_t last = run.started_ns;
  for (size_t i = 0; i < run.nodes.size(); ++i) {
    EXPECT_EQ(run.nodes[i].node, run.trace[i].type);
    EXPECT_GE(run.nodes[i].start_ns, last);
    EXPECT_LE(run.nodes[i].start_ns, run.nodes[i].end_ns);
    last = run.nodes[i].end_ns;
  }
  EXPECT_EQ(run.nodes[1].tokens.prompt, 10);  // Suggest's fill (the choice that ended the run follows it)
  EXPECT_EQ(run.tokens.prompt, 10 + 5);
  ASSERT_EQ(run.deps.size(), 1u);
  EXPECT_EQ(run.deps[0].dep, "forecast");
  EXPECT_GE(run.nodes[1].deps_ns, run.deps[0].end_ns - run.deps[0].start_ns);
  EXPECT_EQ(run.tokens.generated, 3 + 1);
}

TEST_F(RunRegistryTest, VerboseEventsOfConcurrentRunsNeverMix) {
  graph_->nodes.at("Suggest").fields.resize(2);
  listen();
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    GraphJob j = job();
    j.verbosity = i % 2 ? Verbosity::verbose : Verbosity::quiet;
    ids.push_back(registry_.submit(std::move(j)));
  }
  ASSERT_TRUE(wait_ended(8));
  const std::vector<std::string> verbose = {"started", "node_started",  "node_finished", "node_started", "dep_finished",
                                            "lm_call", "node_finished", "lm_call",       "done"};
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto events = registry_.events(ids[i]);
    std::vector<std::string> kinds;
    for (size_t k = 0; k < events.size(); ++k) {
      EXPECT_EQ(events[k].run, ids[i]);
      EXPECT_EQ(events[k].seq, k + 1);
      kinds.push_back(to_string(events[k].kind));
    }
    EXPECT_EQ(kinds, i % 2 ? verbose : std::vector<std::string>{"done"}) << ids[i];
    std::lock_guard l(mu_);
    ASSERT_EQ(heard_[ids[i]].size(), events.size());  // listeners heard the same, in order
    for (size_t k = 0; k < events.size(); ++k) EXPECT_EQ(heard_[ids[i]][k].seq, k + 1);
  }
}

TEST_F(RunRegistryTest, AThousandConcurrentRunsAllFinishDone) {
  graph_->nodes.at("Suggest").fields.resize(2);
  listen();
  for (int i = 0; i < 1000; ++i) registry_.submit(job());
  ASSERT_TRUE(wait_ended(1000));
  for (const auto& r : registry_.list())  // the kept ones: their states follow their events
    registry_.wait_until(
        r.id, [](const RunSnapshot& s) { return is_finished(s.state); }, 20s);
  std::lock_guard l(mu_);
  EXPECT_EQ(ended_["done"], 1000);
  EXPECT_EQ(lm_.fills.load(), 1000);
  for (const auto& r : registry_.list()) EXPECT_EQ(r.state, RunState::done) << r.id << " " << r.error;
}

TEST_F(RunRegistryTest, CancelKillsTheProcessGroupOfAnExecDepThatRunsForever) {
  graph_->deps["forecast"] = DepSpec{"forecast", {"sh", "-c", "sleep 600 & sleep 600; echo 1"}, {}, {}};
  graph_->functions.erase("forecast");
  graph_->file = (std::filesystem::temp_directory_path() / "outfit.yaml").string();  // the command's cwd
  const std::string id = registry_.submit(job());
  ASSERT_TRUE(registry_.wait_until(
      id, [](const RunSnapshot& s) { return !s.processes.empty() || is_finished(s.state); }, 20s))
      << to_string(registry_.get(id)->state) << " at " << registry_.get(id)->node << " deps "
      << registry_.get(id)->deps.size();
  ASSERT_FALSE(registry_.get(id)->processes.empty()) << registry_.get(id)->error;
  const int group = registry_.get(id)->processes.at(0);
  EXPECT_TRUE(process_group_alive(group));
  ASSERT_TRUE(registry_.cancel(id));
  EXPECT_EQ(wait_state(id, RunState::cancelled), RunState::cancelled);
  // SIGKILL has gone to the group; the kernel ends it at once (polled: it is asynchronous).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (process_group_alive(group) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(process_group_alive(group));  // the shell and both sleeps
  EXPECT_TRUE(registry_.wait_until(
      id, [](const RunSnapshot& s) { return s.processes.empty(); }, 5s));
}

TEST_F(RunRegistryTest, TerminateEndsARunThatIgnoresCancellationAtOnce) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> entered;
  graph_->functions["forecast"] = [&entered, released](const Json&) {  // a blocking dep, deaf to cancel
    entered.set_value();
    released.wait();
    return Json("sun");
  };
  const std::string id = registry_.submit(job());
  ASSERT_EQ(entered.get_future().wait_for(20s), std::future_status::ready);
  ASSERT_TRUE(registry_.terminate(id));
  const auto run = *registry_.get(id);  // CANCELLED at once, without waiting for the dep
  EXPECT_EQ(run.state, RunState::cancelled);
  EXPECT_EQ(run.error, "terminated");
  EXPECT_FALSE(registry_.terminate(id));
  EXPECT_EQ(registry_.events(id).back().kind, RunEventKind::cancelled);

  // Resumed under its id, the run parks at its gates, while the terminated one's dep is still
  // held; released while a caller waits for the run's end, it changes nothing of the resumed run.
  GraphJob again = job();
  auto graph = std::make_shared<Graph>(*graph_);
  graph->functions["forecast"] = [](const Json&) { return Json("sun"); };
  again.graph = graph;
  ASSERT_EQ(registry_.resume(id, std::move(again)), id);
  ASSERT_EQ(wait_gates(id, 2).size(), 2u);
  std::once_flag once;
  EXPECT_FALSE(registry_.wait_until(
      id,
      [&](const RunSnapshot& s) {
        std::call_once(once, [&] { release.set_value(); });  // the dep returns; what the run still does is dropped
        return is_finished(s.state);
      },
      200ms));
  EXPECT_EQ(registry_.get(id)->state, RunState::waiting);
}

// Chooses `end`, but only once the test lets it (a timer deaf to the run's cancellation), and
// does not give up when the run is cancelled meanwhile: a model whose reply lands as the cancel
// comes in.
class DeafChooser : public InstantLM {
 public:
  std::promise<void> entered;
  asio::steady_timer* hold = nullptr;  // the loop thread's alone
  asio::awaitable<LMReply<std::string>> choose_type(const NodeType&, const std::vector<std::string>&,
                                                    const Json&) override {
    co_await asio::this_coro::throw_if_cancelled(false);
    asio::steady_timer timer(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    hold = &timer;
    entered.set_value();
    boost::system::error_code ec;  // cancelled by the test: the wait ends either way
    co_await timer.async_wait(
        asio::bind_cancellation_slot(asio::cancellation_slot(), asio::redirect_error(asio::use_awaitable, ec)));
    hold = nullptr;
    co_await asio::this_coro::throw_if_cancelled(true);
    co_return LMReply<std::string>{"end", {5, 1}};
  }
};

TEST_F(RunRegistryTest, ACancelDuringTheLastChoiceEndsTheRunCancelledThoughTheModelStillAnswers) {
  auto g = std::make_shared<Graph>(parse_graph(R"(graph: two
start: A
nodes:
  A:
    fields: {who: {type: string}}
    next: [B, end]
  B:
    fields: {who: {type: string}}
    next: [end]
)",
                                               "/g/two.yaml"));
  DeafChooser lm;
  GraphJob j;
  j.graph = g;
  j.input = {{"who", "ada"}};
  j.lm = &lm;
  const std::string id = registry_.submit(std::move(j));
  ASSERT_EQ(lm.entered.get_future().wait_for(20s), std::future_status::ready);
  ASSERT_TRUE(registry_.cancel(id));
  // Posted after cancel()'s own post: the run is cancelled before the model's reply comes back.
  asio::post(registry_.executor(), [&lm] { lm.hold->cancel(); });
  EXPECT_EQ(wait_state(id, RunState::cancelled), RunState::cancelled);
  const auto events = registry_.events(id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, RunEventKind::cancelled);
  EXPECT_EQ(registry_.get(id)->trace.size(), 1u);  // A only: the choice of `end` was not acted on
}

// A fresh store file per test.
std::string store_file(const std::string& name) {
  const auto dir = test::scratch_root() / "store";
  std::filesystem::create_directories(dir);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(dir / (name + suffix));
  return (dir / name).string();
}

TEST_F(RunRegistryTest, EveryRunIsInTheStoreAfterTheMemoryLetItGo) {
  graph_->nodes.at("Suggest").fields.resize(2);
  RegistryOptions o;
  o.store = store_file("runs.sqlite");
  std::vector<std::string> ids;
  {
    RunRegistry stored(o);
    for (int i = 0; i < 25; ++i) ids.push_back(stored.submit(job()));
    for (const auto& id : ids)
      stored.wait_until(
          id, [](const RunSnapshot& s) { return is_finished(s.state); }, 200ms);
    stored.flush_store();
    const auto first = stored.get(ids[0]);  // no longer in memory: from the store
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->state, RunState::done);
    EXPECT_EQ(first->trace.size(), 2u);
    EXPECT_EQ(first->nodes.size(), 2u);
    EXPECT_FALSE(stored.events(ids[0]).empty());
    EXPECT_EQ(stored.list().size(), 20u);
  }
  RunRegistry reopened(o);  // ids go on after the stored ones
  for (const auto& id : ids) EXPECT_EQ(reopened.get(id)->state, RunState::done) << id;
  EXPECT_EQ(reopened.submit(job()), "g26");
}

// Two registries on one store (two hosts): ids taken at the same time never collide, and opening
// the store marks nothing of a live host CRASHED.
TEST_F(RunRegistryTest, TwoRegistriesOnOneStoreTakeDistinctIdsAndLeaveEachOthersRunsAlone) {
  graph_->nodes.at("Suggest").fields.resize(2);
  RegistryOptions o;
  o.store = store_file("shared.sqlite");
  o.history = 200;  // every run stays in memory, for wait_until
  RunRegistry first(o), second(o);
  std::vector<std::string> a, b;
  std::thread ta([&] {
    for (int i = 0; i < 100; ++i) a.push_back(first.submit(job()));
  });
  std::thread tb([&] {
    for (int i = 0; i < 100; ++i) b.push_back(second.submit(job()));
  });
  ta.join();
  tb.join();
  std::set<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), 200u);
  for (const auto& id : a)
    first.wait_until(
        id, [](const RunSnapshot& s) { return is_finished(s.state); }, 5s);
  for (const auto& id : b)
    second.wait_until(
        id, [](const RunSnapshot& s) { return is_finished(s.state); }, 5s);
  first.flush_store();
  second.flush_store();
  for (const auto& id : b) EXPECT_EQ(first.get(id)->state, RunState::done) << id;  // the other's, from the store
  RunRegistry third(o);
  EXPECT_TRUE(third.crashed().empty());
  EXPECT_FALSE(all.count(third.submit(job())));
}

// The store keeps a run's steps as rows added as the run goes (not its whole trace again at every
// node): what it gives back, for a long run, mid-way and at the end, is what the registry had.
TEST_F(RunRegistryTest, TheStoreGivesBackALongRunStepByStepAsTheRegistryHadIt) {
  auto loop = std::make_shared<Graph>(parse_graph(R"(graph: loop
start: S
max_iters: 300
nodes:
  S: {fields: {v: {type: integer}}, next: [A]}
  A: {fields: {v: {type: integer}, d: {dep: tick, type: string}}, next: [B]}
  B: {fields: {v: {type: integer}}, next: [A, end]}
)",
                                                  "/g/loop.yaml"));
  loop->functions["tick"] = [](const Json&) { return Json("t"); };
  RegistryOptions o;
  o.store = store_file("steps.sqlite");
  RunRegistry stored(o);
  GraphJob j = job({{"v", 0}});
  j.graph = loop;
  lm_.choose = "A";  // never "end": max_iters fails the run, which then keeps its partial trace
  const std::string id = stored.submit(std::move(j));
  ASSERT_TRUE(stored.wait_until(
      id, [](const RunSnapshot& s) { return is_finished(s.state); }, 60s));
  stored.flush_store();
  const RunSnapshot memory = *stored.get(id);
  EXPECT_EQ(memory.state, RunState::failed) << memory.error;
  ASSERT_GE(memory.trace.size(), 300u) << memory.error;
  const auto on_disk = RunRegistry(RegistryOptions{20, 4, 2, o.store, 10000}).get(id);
  ASSERT_TRUE(on_disk.has_value());
  EXPECT_EQ(to_json(*on_disk), to_json(memory));
  EXPECT_EQ(on_disk->deps.size(), 1u);  // a dep runs once per run
}

TEST(RunStoreTest, RunsLeftUnfinishedByAKilledProcessAreCrashed) {
  const std::string file = store_file("crash.sqlite");
  SpawnOptions o;
  o.argv = {std::string(SKEIN_BINARY_DIR) + "/tests/registry_host", file};
  o.stdout_pipe = true;
  Subprocess host = Subprocess::spawn(o);
  std::string said;
  char c;
  while (said.find('\n') == std::string::npos && ::read(host.stdout_fd(), &c, 1) == 1) said += c;
  ASSERT_EQ(said, "ready g1\n");
  host.kill();  // kill -9: nothing is cleaned up
  RegistryOptions ro;
  ro.store = file;
  RunRegistry registry(ro);
  EXPECT_EQ(registry.crashed(), std::vector<std::string>{"g1"});
  const auto run = registry.get("g1");
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->state, RunState::crashed);
  EXPECT_NE(run->error.find("unfinished"), std::string::npos);
}

TEST_F(RunRegistryTest, BadInputFailsTheRunWithTheReason) {
  const std::string id = registry_.submit(job({{"name", "ada"}}));
  EXPECT_EQ(wait_state(id, RunState::failed), RunState::failed);
  EXPECT_NE(registry_.get(id)->error.find("lacks 'who'"), std::string::npos) << registry_.get(id)->error;
}

}  // namespace
}  // namespace skein
