// The graph run loop with a scripted LM: deps once per run (also on a loop), independent deps
// concurrently (a latch both must reach), a failing dep named, pre-seeded deps bypassing their
// function, recall semantics, routing (no choose call for one successor, `end` ends the run,
// native handlers), no fill call without model fields, max_iters with the partial trace.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include "skein/graph_run.hpp"
#include "skein/timing_lm.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;

// Answers choose_type from a script (in order) and fill from per-node functions; counts calls.
class ScriptedLM : public GraphLM {
 public:
  std::vector<std::string> choices;
  std::map<std::string, std::function<Json(const Json& resolved, const TraceEntry& source)>> fills;
  int choose_calls = 0, fill_calls = 0;
  std::vector<std::vector<std::string>> offered;
  std::vector<Json> contexts;  // of each choose_type call

  asio::awaitable<LMReply<std::string>> choose_type(const NodeType&, const std::vector<std::string>& candidates,
                                                    const Json& context) override {
    ++choose_calls;
    contexts.push_back(context);
    offered.push_back(candidates);
    if (choices.empty()) throw Error("the script has no more choices");
    std::string c = choices.front();
    choices.erase(choices.begin());
    co_return LMReply<std::string>{c, {3, 1}};
  }
  asio::awaitable<LMReply<Json>> fill(const NodeType& target, const Json& resolved, const std::string&,
                                      const TraceEntry& source) override {
    ++fill_calls;
    co_return LMReply<Json>{fills.at(target.name)(resolved, source), {10, 2}};
  }
};

TEST(TimingLMTest, TakeMovesOutTheCallsRecordedSinceTheLastTake) {
  ScriptedLM inner;
  inner.choices = {"B", "end"};
  TimingLM timed(inner);
  const NodeType from;
  const std::vector<std::string> candidates{"B", "end"};
  const Json context = Json::object();  // (the coroutine keeps references: named, they outlive it)
  auto choose = [&] {
    asio::io_context io;
    auto got = asio::co_spawn(io, timed.choose_type(from, candidates, context), asio::use_future);
    io.run();
    return got.get().value;
  };
  std::vector<LMTiming> out{LMTiming{}};  // emptied by take
  timed.take(out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(choose(), "B");
  ASSERT_EQ(timed.timings().size(), 1u);
  timed.take(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].call, LMCall::choose);
  EXPECT_EQ(out[0].node, "B");
  EXPECT_EQ(out[0].tokens.prompt, 3);
  EXPECT_TRUE(timed.timings().empty());  // taken
  EXPECT_EQ(choose(), "end");
  timed.take(out);
  ASSERT_EQ(out.size(), 1u);  // only the call since the last take
  EXPECT_EQ(out[0].node, "end");
}

// Both deps must be running at once to pass it; a sequential resolution would time out.
class Rendezvous {
 public:
  explicit Rendezvous(int n) : n_(n) {}
  void arrive_and_wait() {
    std::unique_lock l(mu_);
    if (--n_ == 0) cv_.notify_all();
    if (!cv_.wait_for(l, std::chrono::seconds(20), [&] { return n_ <= 0; }))
      throw Error("the other dep never ran at the same time");
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_;
};

const char* kTriage = R"(graph: triage
start: Ticket
max_iters: 6
types:
  Person: {type: object, properties: {name: {type: string}}, required: [name]}
functions:
  team: {exec: [sh, team.sh], params: {ticket: {recall: Ticket}}}
nodes:
  Ticket:
    fields:
      text: {type: string}
      reporter: Person
    next: [Classify]
  Classify:
    fields:
      ticket: {recall: Ticket}
      who: {recall: Person}
      sla: {dep: sla_hours, type: integer}
      owner: {dep: owner}
      kind: {enum: [bug, question, spam]}
    next: [Fix, Answer, end]
  Fix:
    fields:
      sla: {dep: sla_hours}
      patch: {type: string}
    next: [Review]
  Review:
    fields:
      again: {recall: Classify}
      ok: {type: boolean}
    next: [Fix, end]
  Answer:
    fields:
      sla: {dep: sla_hours}
    next: []
)";

class GraphRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    graph_ = parse_graph(kTriage, "/g/triage.yaml");
    graph_.functions["sla_hours"] = [this](const Json&) {
      ++sla_calls_;
      return Json(24);
    };
    graph_.functions["owner"] = [](const Json&) { return Json("ops"); };
    graph_.deps.erase("team");
    lm_.fills["Classify"] = [](const Json&, const TraceEntry&) { return Json{{"kind", "bug"}}; };
    lm_.fills["Fix"] = [](const Json& resolved, const TraceEntry&) {
      return Json{{"patch", "patch for sla " + resolved["sla"].dump()}};
    };
    lm_.fills["Review"] = [](const Json&, const TraceEntry&) { return Json{{"ok", true}}; };
  }
  GraphResult run(GraphRunOptions o = {}) {
    o.lm = &lm_;
    return run_graph_sync(graph_, Json::parse(R"({"text": "login fails", "reporter": {"name": "ada"}})"), std::move(o));
  }
  Graph graph_;
  ScriptedLM lm_;
  std::atomic<int> sla_calls_{0};
};

// decide(): no call without a choice (no successor: end; one: that one), else choose_type among
// the node's successors, with the node's fields as context.
TEST_F(GraphRunTest, DecideAsksTheModelOnlyWhenThereIsAChoice) {
  auto decide = [&](const std::string& node) {
    asio::io_context io;
    const TraceEntry here{node, Json{{"kind", "bug"}}};
    auto f = asio::co_spawn(io, lm_.decide(graph_.nodes.at(node), here), asio::use_future);
    io.run();
    return f.get().value;
  };
  EXPECT_EQ(decide("Answer"), "end");
  EXPECT_EQ(decide("Fix"), "Review");
  EXPECT_EQ(lm_.choose_calls, 0);
  lm_.choices = {"Answer"};
  EXPECT_EQ(decide("Classify"), "Answer");
  EXPECT_EQ(lm_.choose_calls, 1);
  ASSERT_EQ(lm_.offered.size(), 1u);
  EXPECT_EQ(lm_.offered[0], (std::vector<std::string>{"Fix", "Answer", "end"}));
  EXPECT_EQ(lm_.contexts.at(0), (Json{{"kind", "bug"}}));
}

TEST_F(GraphRunTest, DepsRunOncePerRunAcrossNodesAndLoops) {
  lm_.choices = {"Fix", "Fix", "end"};  // Classify -> Fix -> Review -> Fix -> Review -> end
  GraphResult r = run();
  std::vector<std::string> types;
  for (const auto& e : r.trace) types.push_back(e.type);
  EXPECT_EQ(types, (std::vector<std::string>{"Ticket", "Classify", "Fix", "Review", "Fix", "Review"}));
  EXPECT_EQ(sla_calls_.load(), 1);  // used by Classify and twice by Fix
  EXPECT_EQ(r.deps.at("sla_hours"), 24);
  EXPECT_EQ(r.trace[2].fields["patch"], "patch for sla 24");
  EXPECT_EQ(r.terminal.type, "Review");
}

TEST_F(GraphRunTest, IndependentDepsRunConcurrently) {
  Rendezvous both(2);
  graph_.functions["sla_hours"] = [&](const Json&) {
    both.arrive_and_wait();
    return Json(8);
  };
  graph_.functions["owner"] = [&](const Json&) {
    both.arrive_and_wait();
    return Json("dev");
  };
  lm_.choices = {"end"};
  GraphResult r = run();
  EXPECT_EQ(r.trace[1].fields["sla"], 8);
  EXPECT_EQ(r.trace[1].fields["owner"], "dev");
}

TEST_F(GraphRunTest, AFailingDepFailsTheRunNamingItselfWithThePartialTrace) {
  graph_.functions["owner"] = [](const Json&) -> Json { throw Error("directory unreachable"); };
  try {
    run();
    FAIL() << "the run did not fail";
  } catch (const GraphError& e) {
    EXPECT_EQ(e.node(), "Classify");
    EXPECT_NE(std::string(e.what()).find("dep 'owner' failed: directory unreachable"), std::string::npos) << e.what();
    ASSERT_EQ(e.trace().size(), 1u);
    EXPECT_EQ(e.trace()[0].type, "Ticket");
  }
}

TEST_F(GraphRunTest, AFailingDepFailsTheRunWithoutWaitingForItsSiblings) {
  std::promise<void> run_failed;
  std::shared_future<void> failed = run_failed.get_future().share();
  std::atomic<bool> sibling_saw_the_failure{false};
  graph_.functions["sla_hours"] = [&](const Json&) {  // runs until the run has failed
    sibling_saw_the_failure = failed.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
    return Json(1);
  };
  graph_.functions["owner"] = [](const Json&) -> Json { throw Error("directory unreachable"); };
  asio::io_context io;
  asio::thread_pool pool(2);
  GraphRunOptions o;
  o.lm = &lm_;
  o.blocking = pool.get_executor();
  std::string error;
  asio::co_spawn(io, run_graph(graph_, Json::parse(R"({"text": "a", "reporter": {"name": "b"}})"), std::move(o)),
                 [&](std::exception_ptr e, GraphResult) {
                   try {
                     if (e) std::rethrow_exception(e);
                   } catch (const GraphError& g) {
                     error = g.what();
                   }
                   run_failed.set_value();
                 });
  io.run();
  pool.join();
  EXPECT_NE(error.find("dep 'owner' failed: directory unreachable"), std::string::npos) << error;
  EXPECT_TRUE(sibling_saw_the_failure.load());  // the run failed while sla_hours was still running
}

TEST_F(GraphRunTest, ABlockingDepDoesNotStallOtherRunsOnTheSameLoop) {
  std::promise<void> other_done;
  std::shared_future<void> done = other_done.get_future().share();
  std::atomic<bool> other_finished_meanwhile{false};
  Graph other = graph_;                           // the same graph whose owner dep answers at once
  graph_.functions["owner"] = [&](const Json&) {  // blocks until the other run has ended
    other_finished_meanwhile = done.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
    return Json("ops");
  };
  lm_.choices = {"end", "end"};
  asio::io_context io;
  asio::thread_pool pool(2);
  int finished = 0;
  auto spawn = [&](const Graph& g, std::function<void()> then) {
    GraphRunOptions o;
    o.lm = &lm_;
    o.blocking = pool.get_executor();
    asio::co_spawn(io, run_graph(g, Json::parse(R"({"text": "a", "reporter": {"name": "b"}})"), std::move(o)),
                   [&, then](std::exception_ptr e, GraphResult) {
                     finished += !e;
                     then();
                   });
  };
  spawn(graph_, [] {});
  spawn(other, [&] { other_done.set_value(); });
  io.run();
  pool.join();
  EXPECT_EQ(finished, 2);
  EXPECT_TRUE(other_finished_meanwhile.load());
}

// A run given no blocking executor computes a native dep on its own loop, with no task or hop (the
// inline path): once per run however many nodes use it, its recalled parameters given; a failure
// there is named as on a pool, and a cancel stops the run before its next dep.
TEST(GraphRunInlineTest, DepsOnTheRunsOwnLoopAreComputedThereNamedWhenTheyFailAndStoppedByACancel) {
  Graph g = parse_graph(R"(graph: inline
start: A
nodes:
  A: {fields: {a: {type: integer, dep: f1}}, next: [B]}
  B: {fields: {b: {type: integer, dep: f2}, again: {type: integer, dep: f1}, c: {type: integer, dep: f3}},
      next: [end]}
)",
                        "inline.yaml");
  ScriptedLM lm;
  asio::io_context io;
  const auto loop_thread = std::this_thread::get_id();  // io.run() runs here
  bool f1_on_loop = false, f2_ran = false;
  int f1_calls = 0;
  std::function<void()> during_f1 = [] {};
  g.functions["f1"] = [&](const Json&) {
    ++f1_calls;
    f1_on_loop = std::this_thread::get_id() == loop_thread;
    during_f1();
    return Json(1);
  };
  g.functions["f3"] = [](const Json& params) { return Json(params.at("first").at("a").get<int>() + 10); };
  g.deps["f3"].params["first"].recall = "A";  // a native function given the latest A (its name left empty)
  g.functions["f2"] = [&](const Json&) -> Json {
    f2_ran = true;
    return Json(2);
  };
  struct Deps : GraphObserver {  // what the run reports of its deps
    void dep_done(const std::string& name, int64_t start, int64_t end, const std::string& error) override {
      seen.push_back(name + (error.empty() ? "" : ": " + error));
      ordered = ordered && start <= end;
    }
    std::vector<std::string> seen;
    bool ordered = true;
  } deps;
  asio::cancellation_signal cancel;
  auto run_once = [&](const Graph& graph) {
    GraphRunOptions o;
    o.lm = &lm;
    o.observer = &deps;
    o.slice = {};  // (the default) lets the loop's other work (the cancel below) go on at each node
    std::string error;
    std::optional<GraphResult> result;
    asio::co_spawn(io, run_graph(graph, Json::object(), std::move(o)),
                   asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, GraphResult r) {
                     try {
                       if (e) std::rethrow_exception(e);
                       result = std::move(r);
                     } catch (const std::exception& x) {
                       error = x.what();
                     }
                   }));
    io.run();
    io.restart();
    return std::make_pair(std::move(result), error);
  };

  auto [done, no_error] = run_once(g);
  ASSERT_TRUE(done) << no_error;
  EXPECT_TRUE(f1_on_loop);
  EXPECT_EQ(done->trace.size(), 2u);
  EXPECT_EQ(done->trace[1].fields["b"], 2);
  EXPECT_EQ(done->trace[1].fields["again"], 1);
  EXPECT_EQ(done->trace[1].fields["c"], 11);
  EXPECT_EQ(f1_calls, 1);
  ASSERT_EQ(deps.seen.size(), 3u);
  std::sort(deps.seen.begin() + 1, deps.seen.end());  // B's three deps resolve concurrently
  EXPECT_EQ(deps.seen, (std::vector<std::string>{"f1", "f2", "f3"}));
  EXPECT_TRUE(deps.ordered);

  Graph failing = g;
  failing.functions["f2"] = [](const Json&) -> Json { throw Error("boom"); };
  auto [none, error] = run_once(failing);
  EXPECT_FALSE(none);
  EXPECT_NE(error.find("dep 'f2' failed: boom"), std::string::npos) << error;
  EXPECT_NE(std::find(deps.seen.begin(), deps.seen.end(), "f2: dep 'f2' failed: boom"), deps.seen.end());

  f2_ran = false;
  // The cancel reaches the loop as a handler, as from another thread (emitted from inside the run's
  // own first steps, before it ever waited, Boost 1.81's co_spawn would throw it out of io.run()).
  during_f1 = [&] { asio::post(io, [&] { cancel.emit(asio::cancellation_type::terminal); }); };
  auto [cancelled, why] = run_once(g);
  EXPECT_FALSE(cancelled);
  EXPECT_NE(why.find("Operation canceled"), std::string::npos) << why;
  EXPECT_FALSE(f2_ran);
}

// Routing from a node with one successor takes no call, so no co_await there throws for a cancel:
// a run cancelled while its last node's effect runs must still end cancelled, not done.
TEST(GraphRunCancelTest, ARunCancelledDuringItsLastNodesEffectEndsCancelledNotDone) {
  const Graph g =
      parse_graph("graph: last\nstart: A\nnodes:\n  A: {fields: {v: {type: integer}}, next: [end]}\n", "last.yaml");
  ScriptedLM lm;
  asio::io_context io;
  asio::thread_pool pool(1);
  asio::cancellation_signal cancel;
  std::promise<void> emitted;
  std::future<void> cancel_seen = emitted.get_future();
  GraphRunOptions o;
  o.lm = &lm;
  o.blocking = pool.get_executor();
  o.effects["A"] = [&](const TraceEntry&) {  // on the pool: the cancel reaches the run before the effect ends
    asio::post(io, [&] {
      cancel.emit(asio::cancellation_type::terminal);
      emitted.set_value();
    });
    cancel_seen.wait();
  };
  bool done = false;
  std::string error;
  asio::co_spawn(io, run_graph(g, Json{{"v", 1}}, std::move(o)),
                 asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, GraphResult) {
                   try {
                     if (e) std::rethrow_exception(e);
                     done = true;
                   } catch (const std::exception& x) {
                     error = x.what();
                   }
                 }));
  io.run();
  pool.join();
  EXPECT_FALSE(done);
  EXPECT_NE(error.find("Operation canceled"), std::string::npos) << error;
}

TEST_F(GraphRunTest, ANodeTypedDepIsMadeByTheModelFromTheNodeBefore) {
  Graph g = parse_graph(R"(graph: plan
start: Ask
nodes:
  Ask:
    fields: {q: {type: string}}
    next: [Plan]
  Draft:
    fields: {text: {type: string}}
    next: [end]
  Plan:
    fields:
      draft: {dep: Draft}
      steps: {type: integer}
    next: [end]
)",
                        "/g/plan.yaml");
  lm_.fills["Draft"] = [](const Json& resolved, const TraceEntry& source) {
    return Json{{"text", "draft after " + source.type + " with " + resolved.dump()}};
  };
  lm_.fills["Plan"] = [](const Json& resolved, const TraceEntry&) {
    return Json{{"steps", resolved["draft"]["text"].get<std::string>().size()}};
  };
  GraphRunOptions o;
  o.lm = &lm_;
  GraphResult r = run_graph_sync(g, Json{{"q", "how?"}}, std::move(o));
  EXPECT_EQ(r.terminal.fields["draft"], Json::parse(R"({"text": "draft after Ask with {}"})"));
  EXPECT_EQ(r.terminal.fields["steps"], 23);
  EXPECT_EQ(lm_.fill_calls, 2);
  lm_.fills["Draft"] = [](const Json&, const TraceEntry&) { return Json{{"text", 5}}; };
  GraphRunOptions bad;
  bad.lm = &lm_;
  try {
    run_graph_sync(g, Json{{"q", "how?"}}, std::move(bad));
    FAIL() << "a mistyped made node was accepted";
  } catch (const GraphError& e) {
    EXPECT_EQ(e.node(), "Plan");
    EXPECT_NE(std::string(e.what()).find("field 'text' does not match its type"), std::string::npos) << e.what();
  }
}

TEST_F(GraphRunTest, PreSeededDepsBypassTheirFunctions) {
  GraphRunOptions o;
  o.dep_cache["sla_hours"] = 2;
  lm_.choices = {"Answer"};
  GraphResult r = run(std::move(o));
  EXPECT_EQ(sla_calls_.load(), 0);
  EXPECT_EQ(r.terminal.type, "Answer");
  EXPECT_EQ(r.terminal.fields["sla"], 2);
}

TEST_F(GraphRunTest, RecallTakesTheLatestNodeElseAPlainFieldOfThatTypeSkippingNulls) {
  lm_.choices = {"Fix", "Fix", "end"};
  GraphResult r = run();
  EXPECT_EQ(r.trace[1].fields["ticket"]["text"], "login fails");           // the Ticket node
  EXPECT_EQ(r.trace[1].fields["who"], Json::parse(R"({"name": "ada"})"));  // a plain field of type Person
  EXPECT_EQ(r.trace[3].fields["again"]["kind"], "bug");
  // Nulls are skipped: the latest non-null Person wins.
  std::vector<TraceEntry> trace = {{"Ticket", Json::parse(R"({"text": "a", "reporter": {"name": "bo"}})")},
                                   {"Ticket", Json::parse(R"({"text": "b", "reporter": null})")}};
  EXPECT_EQ(recall(graph_, trace, "Person"), Json::parse(R"({"name": "bo"})"));
  EXPECT_EQ(recall(graph_, trace, "Ticket")->at("text"), "b");
  EXPECT_FALSE(recall(graph_, trace, "Review").has_value());
}

TEST_F(GraphRunTest, OneSuccessorMakesNoChooseCallAndEndIsOfferedAndEnds) {
  lm_.choices = {"end"};
  GraphResult r = run();
  EXPECT_EQ(lm_.choose_calls, 1);  // Ticket -> Classify needed none; Classify chose end
  EXPECT_EQ(lm_.offered[0], (std::vector<std::string>{"Fix", "Answer", "end"}));
  EXPECT_EQ(r.trace.size(), 2u);
  EXPECT_EQ(lm_.contexts.at(0), r.trace[1].fields);  // the choice is made from the node's fields
  EXPECT_EQ(r.terminal.type, "Classify");
  EXPECT_EQ(r.tokens.prompt, 10 + 3);  // the run adds up its calls' tokens: one fill, one choice
  EXPECT_EQ(r.tokens.generated, 2 + 1);
}

TEST_F(GraphRunTest, ANodeWithoutModelFieldsMakesNoFillCall) {
  lm_.choices = {"Answer"};
  run();
  EXPECT_EQ(lm_.fill_calls, 1);  // Classify's kind; Answer has only a dep
}

TEST_F(GraphRunTest, MaxItersStopsALoopWithAClearErrorAndThePartialTrace) {
  lm_.choices = {"Fix", "Fix", "Fix", "Fix", "Fix"};
  try {
    run();
    FAIL() << "the loop was not stopped";
  } catch (const GraphError& e) {
    EXPECT_NE(std::string(e.what()).find("max_iters (6) reached"), std::string::npos) << e.what();
    EXPECT_EQ(e.trace().size(), 6u);
  }
}

TEST_F(GraphRunTest, ANativeHandlerRoutesInCodeAndBadInputIsRefused) {
  GraphRunOptions o;
  o.handlers["Classify"] = [](const TraceEntry& e) { return e.fields["kind"] == "bug" ? "Answer" : "end"; };
  std::vector<std::string> seen;
  o.effects["*"] = [&](const TraceEntry& e) { seen.push_back(e.type); };
  GraphResult r = run(std::move(o));
  EXPECT_EQ(lm_.choose_calls, 0);
  EXPECT_EQ(r.terminal.type, "Answer");
  EXPECT_EQ(seen, (std::vector<std::string>{"Ticket", "Classify", "Answer"}));
  GraphRunOptions bad;
  bad.lm = &lm_;
  EXPECT_THROW(run_graph_sync(graph_, Json::parse(R"({"text": 3, "reporter": {"name": "a"}})"), std::move(bad)),
               ConfigError);
}

TEST_F(GraphRunTest, AnExecDepGetsItsParamsAsJsonOnStdinAndGivesOneValue) {
  const auto dir = std::filesystem::temp_directory_path() / ("skein_graph_exec_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "team.sh") << "read -r p\nprintf '{\"params\": %s}' \"$p\"\n";
  graph_.file = (dir / "g.yaml").string();
  graph_.deps["team"] = DepSpec{"team", {"sh", "team.sh"}, {{"ticket", ParamSource{std::nullopt, "Ticket", {}}}}, {}};
  for (auto& f : graph_.nodes.at("Classify").fields)
    if (f.name == "owner") f.dep = "team";
  lm_.choices = {"end"};
  GraphResult r = run();
  EXPECT_EQ(r.trace[1].fields["owner"]["params"]["ticket"]["text"], "login fails");
  std::filesystem::remove_all(dir);
}

// Counts up to `to` and answers at once (no call of it waits).
class CountingLM : public GraphLM {
 public:
  explicit CountingLM(int to) : to_(to) {}
  int fills = 0;
  asio::awaitable<LMReply<std::string>> choose_type(const NodeType&, const std::vector<std::string>&,
                                                    const Json& context) override {
    co_return LMReply<std::string>{context.at("v").get<int>() < to_ ? "A" : "end", {}};
  }
  asio::awaitable<LMReply<Json>> fill(const NodeType&, const Json&, const std::string&,
                                      const TraceEntry& source) override {
    ++fills;
    Json v = empty_object();
    v["v"] = source.fields.at("v").get<int>() + 1;
    co_return LMReply<Json>{std::move(v), {}};
  }

 private:
  int to_;
};

// One node that routes to itself or ends, as a CountingLM decides.
Graph count_graph() {
  return parse_graph(R"(graph: count
start: A
max_iters: 0
nodes:
  A: {fields: {v: {type: integer}}, next: [A, end]}
)",
                     "count.yaml");
}

// A long run of instant nodes (`long_nodes`) spawned before a short one (3) on one loop, both
// yielding once per `slice`; when the short one ends, the long one is cancelled.
struct SliceRace {
  static constexpr int kLong = 50'000;
  std::vector<std::string> ended;        // in order
  int long_fills_when_short_ended = -1;  // -1: the long one ended first
  int long_fills = 0;
  std::string long_error;

  explicit SliceRace(std::chrono::nanoseconds slice, int long_nodes = kLong) {
    const Graph g = count_graph();
    CountingLM long_lm(long_nodes), short_lm(3);
    asio::io_context io(1);
    asio::cancellation_signal cancel_long;
    auto spawn = [&](CountingLM& lm, std::string name, asio::cancellation_slot slot) {
      GraphRunOptions o;
      o.lm = &lm;
      o.slice = slice;
      asio::co_spawn(io, run_graph(g, Json{{"v", 0}}, std::move(o)),
                     asio::bind_cancellation_slot(slot, [&, name](std::exception_ptr e, GraphResult r) {
                       ended.push_back(name);
                       if (name == "long") {
                         try {
                           if (e) std::rethrow_exception(e);
                         } catch (const std::exception& x) {
                           long_error = x.what();
                         }
                         return;
                       }
                       ASSERT_FALSE(e);
                       EXPECT_EQ(r.terminal.fields.at("v"), 3);
                       if (ended.size() == 1) long_fills_when_short_ended = long_lm.fills;
                       cancel_long.emit(asio::cancellation_type::terminal);
                     }));
    };
    spawn(long_lm, "long", cancel_long.slot());
    spawn(short_lm, "short", {});
    io.run();
    long_fills = long_lm.fills;
  }
};

// A run whose nodes never wait (an LM answering from memory) does not keep its loop: by default
// it yields at every node (SPEC §4), so a short run spawned after a long one ends first, the two
// taking a node each in turn, and a cancel emitted then reaches the long one at its next model
// call once it resumes.
TEST(GraphRunSliceTest, ARunWhoseNodesNeverWaitLetsTheOtherRunsOnItsLoopGoOnAndSeesACancel) {
  const SliceRace race(GraphRunOptions{}.slice);
  EXPECT_EQ(race.ended, (std::vector<std::string>{"short", "long"}));
  EXPECT_GE(race.long_fills_when_short_ended, 1);
  EXPECT_LE(race.long_fills_when_short_ended, 5);  // a node each, in turn
  EXPECT_LE(race.long_fills, 5);
  EXPECT_NE(race.long_error.find("Operation canceled"), std::string::npos) << race.long_error;
}

// The slice is what decides: a run keeps the loop for that long (50 ms here: far more than 10
// instant nodes, far less than the long run's 10^6, which end in about a second if the cancel is
// lost) before the short one runs; a slice longer than the long run lets it end first.
TEST(GraphRunSliceTest, ASliceKeepsTheLoopThatLong) {
  const SliceRace slice(std::chrono::milliseconds(50), 1'000'000);
  EXPECT_EQ(slice.ended, (std::vector<std::string>{"short", "long"}));
  EXPECT_GT(slice.long_fills_when_short_ended, 10);  // at every node: 5 at most (above)
  EXPECT_NE(slice.long_error.find("Operation canceled"), std::string::npos) << slice.long_error;

  const SliceRace never(std::chrono::hours(1));
  EXPECT_EQ(never.ended, (std::vector<std::string>{"long", "short"}));
  EXPECT_EQ(never.long_fills, SliceRace::kLong);
  EXPECT_EQ(never.long_error, "");
}

// By default a run yields at every node, its first included, before keeping it: two runs started
// on one loop take their nodes in turn.
TEST(GraphRunSliceTest, ByDefaultARunYieldsAtEveryNode) {
  const Graph g = count_graph();
  struct Log : GraphObserver {
    Log(std::vector<std::string>& events, std::string run) : events(events), run(std::move(run)) {}
    void node_entered(const std::string&) override { events.push_back(run + " enters"); }
    void node_done(size_t index, const TraceEntry&, int64_t, int64_t) override {
      events.push_back(run + " keeps " + std::to_string(index));
    }
    std::vector<std::string>& events;
    std::string run;
  };
  std::vector<std::string> events;
  CountingLM lm_a(2), lm_b(2);
  Log log_a(events, "a"), log_b(events, "b");
  asio::io_context io(1);
  for (auto [lm, log] : {std::pair{&lm_a, &log_a}, std::pair{&lm_b, &log_b}}) {
    GraphRunOptions o;
    o.lm = lm;
    o.observer = log;
    asio::co_spawn(io, run_graph(g, Json{{"v", 0}}, std::move(o)),
                   [](std::exception_ptr e, const GraphResult&) { EXPECT_FALSE(e); });
  }
  io.run();
  EXPECT_EQ(events, (std::vector<std::string>{"a enters", "b enters",                            // each its first node
                                              "a keeps 0", "a enters", "b keeps 0", "b enters",  // then one each
                                              "a keeps 1", "a enters", "b keeps 1", "b enters",  // in turn
                                              "a keeps 2", "b keeps 2"}));
}

// A run seeded with deps it never needs returns them as its deps.
TEST(GraphRunDepsTest, SeededDepsAreReturnedWhenNoNodeNeedsADep) {
  const Graph g = count_graph();
  CountingLM lm(1);
  GraphRunOptions o;
  o.lm = &lm;
  o.dep_cache = {{"seeded", Json(7)}};
  const GraphResult r = run_graph_sync(g, Json{{"v", 0}}, std::move(o));
  EXPECT_EQ(r.trace.size(), 2u);
  EXPECT_EQ(r.deps, (DepCache{{"seeded", Json(7)}}));
}

}  // namespace
}  // namespace skein
