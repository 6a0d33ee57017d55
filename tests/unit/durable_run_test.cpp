// Durable graph runs (SPEC §5): a checkpoint per node, a ledger of what each run was told (LM
// replies, dep values, gate answers), resume after kill -9 keeping the run's id, fork from any
// node, and the store bounded (retention, max_store_bytes) with ledgers deleted with their runs.
#include <gtest/gtest.h>
#include <unistd.h>
#include <iostream>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "engine/process/subprocess.hpp"
#include "runtime/run_json.hpp"
#include "runtime/sqlite_run_store.hpp"
#include "scratch.hpp"
#include "skein/run_registry.hpp"
#include "tools/chaos_lm.hpp"
#include "util/sqlite.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

const std::string kHost = std::string(SKEIN_BINARY_DIR) + "/tests/chaos_host";

// A fresh folder holding a copy of the chaos graph and its dep script.
fs::path chaos_dir(const std::string& name) {
  const fs::path dir = test::scratch_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir / "state");
  for (const char* f : {"graph.yaml", "dep.sh"})
    fs::copy_file(fs::path(SKEIN_SOURCE_DIR) / "tests/data/chaos" / f, dir / f);
  return dir;
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A chaos_host process and what it says, line by line.
class HostProcess {
 public:
  HostProcess(const fs::path& dir, int life, int runs, const std::string& mode) {
    SpawnOptions o;
    o.argv = {kHost,
              (dir / "state").string(),
              (dir / "graph.yaml").string(),
              (dir / "lm.log").string(),
              std::to_string(life),
              std::to_string(runs),
              mode};
    o.stdout_pipe = true;
    o.log_file = (dir / ("host-" + std::to_string(life) + ".log")).string();  // its stderr, for a failure's reader
    p_ = Subprocess::spawn(o);
  }
  // The next line it prints ("" at its end).
  std::string line() {
    std::string said;
    char c;
    while (::read(p_.stdout_fd(), &c, 1) == 1 && c != '\n') said += c;
    return said;
  }
  void kill() { p_.kill(); }
  // Its exit status, once it has closed its output and exited by itself.
  int wait() {
    while (!line().empty()) {
    }
    std::optional<int> status;
    for (int i = 0; i < 6000 && !(status = p_.poll()); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return status.value_or(-1);
  }

 private:
  Subprocess p_;
};

// The trace of an uninterrupted run of job `job`.
std::vector<TraceEntry> expected_trace(int job) {
  const std::string stamp = "stamp-" + std::to_string(job);
  std::vector<TraceEntry> t{{"Start", {{"job", job}}}};
  for (int count = 1; count <= 3; ++count) t.push_back({"Work", {{"job", job}, {"count", count}, {"stamp", stamp}}});
  t.push_back({"Review", {{"job", job}, {"count", 3}, {"note", "note-" + std::to_string(job)}, {"ok", job % 2 == 0}}});
  return t;
}

Json trace_json(const std::vector<TraceEntry>& trace) {
  Json out = Json::array();
  for (const auto& e : trace) out.push_back({{"type", e.type}, {"fields", e.fields}});
  return out;
}

// The LM log's lines: life, and the call (job kind node count).
struct LoggedCall {
  int life;
  std::string job, call;
};

std::vector<LoggedCall> logged_calls(const fs::path& log) {
  std::vector<LoggedCall> out;
  for (const auto& line : lines_of(log)) {
    std::istringstream in(line);
    LoggedCall c;
    std::string kind, node, count;
    in >> c.life >> c.job >> kind >> node >> count;
    c.call = c.job + " " + kind + " " + node + " " + count;
    out.push_back(c);
  }
  return out;
}

// A call logged twice is one that was in flight when its host was killed: the earlier one is its
// job's last call in a life that was killed. Anything else was asked again although answered.
void expect_no_answered_call_repeated(const std::vector<LoggedCall>& calls, int last_life) {
  std::map<std::pair<int, std::string>, std::string> last_of_job_in_life;
  for (const auto& c : calls) last_of_job_in_life[{c.life, c.job}] = c.call;
  std::map<std::string, std::vector<int>> lives_of_call;
  for (const auto& c : calls) lives_of_call[c.call].push_back(c.life);
  for (const auto& [call, lives] : lives_of_call)
    for (size_t i = 0; i + 1 < lives.size(); ++i) {
      EXPECT_LT(lives[i], last_life) << call;
      EXPECT_NE(lives[i], lives[i + 1]) << "asked twice in one life: " << call;
      const std::string job = call.substr(0, call.find(' '));
      EXPECT_EQ((last_of_job_in_life[{lives[i], job}]), call)
          << "'" << call << "' was asked again after life " << lives[i] << " had its answer";
    }
}

// The store writes steps with a formatter of its own (no JSON built per step): byte for byte what
// the JSON form would dump, every field included.
TEST(DurableRunTest, AStepsTextIsItsJsonDumped) {
  NodeTiming t;
  t.index = 3, t.node = "Ask \"her\"", t.start_ns = 10, t.end_ns = 20, t.lm_ns = 5, t.queue_ns = 1, t.generate_ns = 4;
  t.deps_ns = 2, t.tokens = {100, 7, 90};
  EXPECT_EQ(step_text(t), dumped(to_json(t)));
  const TraceEntry e{"Node", Json{{"a", 1}, {"b", "ü"}}};
  EXPECT_EQ(step_text(e), dumped(to_json(e)));
}

TEST(DurableRunTest, TwentyRunsSurviveTwentyKillsRepeatingNothingAnswered) {
  const fs::path dir = chaos_dir("chaos");
  constexpr int kRuns = 20, kKills = 20;
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("kill moments from seed " + std::to_string(seed));
  int life = 1;
  for (; life <= kKills; ++life) {
    HostProcess host(dir, life, kRuns, "answer");
    ASSERT_EQ(host.line(), "ready") << "life " << life;
    // The kill's moment: picked at random, not waited for.
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 200));
    host.kill();
  }
  HostProcess last(dir, life, kRuns, "answer");
  ASSERT_EQ(last.line(), "ready");
  ASSERT_EQ(last.line(), "all done");
  ASSERT_EQ(last.wait(), 0);

  RegistryOptions o;
  o.store = (dir / "state" / "runs.sqlite").string();
  RunRegistry registry(o);
  for (int job = 1; job <= kRuns; ++job) {
    const auto run = registry.get("g" + std::to_string(job));
    ASSERT_TRUE(run) << job;
    EXPECT_EQ(run->state, RunState::done) << job << ": " << run->error;
    EXPECT_EQ(trace_json(run->trace), trace_json(expected_trace(job))) << job;
    EXPECT_EQ(run->tokens.prompt, 43) << "3 choices (5 each) and 4 fills (7 each), each counted once";
    EXPECT_EQ(run->tokens.generated, 15);
    for (const char* dep : {"stamp", "note"})
      EXPECT_EQ(lines_of(dir / (std::string(dep) + "-" + std::to_string(job) + ".lines")).size(), 1u)
          << dep << " of job " << job << " ran other than once";
  }
  const auto calls = logged_calls(dir / "lm.log");
  expect_no_answered_call_repeated(calls, life);
  std::set<std::string> distinct;
  std::set<int> lives;
  for (const auto& c : calls) distinct.insert(c.call), lives.insert(c.life);
  std::cout << "kills: " << kKills << ", LM calls: " << calls.size() << " (" << calls.size() - distinct.size()
            << " asked again: in flight at a kill), lives that asked the model: " << lives.size() << "\n";
  EXPECT_FALSE(fs::exists(dir / "state" / "spool" / "g1")) << "a finished run's spool is removed";
}

// A run killed while it waits at a gate: the gate reopens under the same id, and answering it
// finishes the run without asking the model again for what it answered before.
TEST(DurableRunTest, AGateOpenWhenTheHostWasKilledReopensWithTheSameId) {
  const fs::path dir = chaos_dir("gate");
  std::string gate;
  {
    HostProcess host(dir, 1, 1, "park");
    ASSERT_EQ(host.line(), "ready");
    const std::string said = host.line();
    ASSERT_EQ(said.rfind("waiting ", 0), 0u) << said;
    gate = said.substr(8);
    host.kill();
  }
  EXPECT_EQ(gate, "g1.1");
  const size_t calls_before = lines_of(dir / "lm.log").size();
  RegistryOptions o;
  o.store = (dir / "state" / "runs.sqlite").string();
  RunRegistry registry(o);
  ASSERT_EQ(registry.crashed(), std::vector<std::string>{"g1"});
  test::ChaosLM lm((dir / "lm.log").string(), "2");
  GraphJob job;
  job.graph = std::make_shared<Graph>(load_graph((dir / "graph.yaml").string()));
  job.lm = &lm;
  EXPECT_EQ(registry.resume("g1", job), "g1");
  ASSERT_TRUE(registry.wait_until(
      "g1", [](const RunSnapshot& s) { return s.state == RunState::waiting; }, std::chrono::seconds(20)));
  ASSERT_EQ(registry.gates().size(), 1u);
  EXPECT_EQ(registry.gates()[0].id, gate);
  registry.answer(gate, false);
  ASSERT_TRUE(registry.wait_until(
      "g1", [](const RunSnapshot& s) { return s.state == RunState::done; }, std::chrono::seconds(20)));
  EXPECT_EQ(trace_json(registry.get("g1")->trace), trace_json(expected_trace(1)));
  EXPECT_EQ(lines_of(dir / "lm.log").size(), calls_before) << "the model was asked again";
  for (const char* dep : {"stamp-1", "note-1"}) EXPECT_EQ(lines_of(dir / (std::string(dep) + ".lines")).size(), 1u);
  // The run kept its events, numbered on from before the kill.
  const auto events = registry.events("g1");
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq, i + 1);
}

class DurableRegistryTest : public ::testing::Test {
 protected:
  DurableRegistryTest() : dir_(chaos_dir(::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    graph_ = std::make_shared<Graph>(load_graph((dir_ / "graph.yaml").string()));
  }
  RunRegistry& registry() {
    if (!registry_) {
      RegistryOptions o;
      o.store = (dir_ / "state" / "runs.sqlite").string();
      registry_ = std::make_unique<RunRegistry>(o);
    }
    return *registry_;
  }
  GraphJob job(std::shared_ptr<const Graph> graph = nullptr) {
    GraphJob j;
    j.graph = graph ? graph : graph_;
    j.lm = &lm_;
    j.input = {{"job", 4}};
    return j;
  }
  RunState wait_finished(const std::string& id) {
    registry().wait_until(
        id, [](const RunSnapshot& s) { return is_finished(s.state); }, std::chrono::seconds(30));
    return registry().get(id)->state;
  }
  void answer_when_open(const std::string& id, bool value) {
    ASSERT_TRUE(registry().wait_until(
        id, [](const RunSnapshot& s) { return s.state == RunState::waiting; }, std::chrono::seconds(30)));
    registry().answer(registry().gates().at(0).id, value);
  }

  fs::path dir_;
  std::shared_ptr<Graph> graph_;
  test::ChaosLM lm_{(dir_ / "lm.log").string(), "1"};
  std::unique_ptr<RunRegistry> registry_;
};

TEST_F(DurableRegistryTest, AForkKeepsTheNodesBeforeItAndAsksNothingForThem) {
  const std::string src = registry().submit(job());
  answer_when_open(src, true);
  ASSERT_EQ(wait_finished(src), RunState::done);
  const size_t calls_before = lines_of(dir_ / "lm.log").size();
  const std::string fork = registry().fork(src, 2, {{"count", 10}}, job());
  EXPECT_NE(fork, src);
  answer_when_open(fork, false);
  ASSERT_EQ(wait_finished(fork), RunState::done) << registry().get(fork)->error;
  const auto f = registry().get(fork);
  const auto s = registry().get(src);
  ASSERT_EQ(f->trace.size(), 4u);  // Start, Work 1, Work 10 (given), Review
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(f->trace[i].fields, s->trace[i].fields) << i;
  EXPECT_EQ(f->trace[2].fields, (Json{{"job", 4}, {"count", 10}, {"stamp", "stamp-4"}}));
  EXPECT_EQ(f->trace[3].fields, (Json{{"job", 4}, {"count", 10}, {"note", "note-4"}, {"ok", false}}));
  EXPECT_EQ(f->forked_from, src);
  EXPECT_EQ(f->forked_at, 2);
  EXPECT_EQ(f->nodes.size(), f->trace.size()) << "a timing per node, the kept ones included";
  // Nodes 0..2 kept (fill 7/3; choose 5/1 + fill 7/3), then a choice and Review's fill.
  EXPECT_EQ(f->tokens.prompt, 31);
  EXPECT_EQ(f->tokens.generated, 11);
  // Only the calls after node 2: the choice after it and Review's fill.
  auto calls = lines_of(dir_ / "lm.log");
  calls.erase(calls.begin(), calls.begin() + int64_t(calls_before));
  EXPECT_EQ(calls, (std::vector<std::string>{"1 4 choose Work 10", "1 4 fill Review 10"}));
  EXPECT_EQ(lines_of(dir_ / "stamp-4.lines").size(), 1u) << "a dep resolved by node 2 was run again";
  EXPECT_EQ(lines_of(dir_ / "note-4.lines").size(), 2u) << "a dep first needed after node 2 runs for the fork";
}

TEST_F(DurableRegistryTest, AForkRefusesAFieldOfTheWrongTypeOrANodeOutOfRange) {
  const std::string src = registry().submit(job());
  answer_when_open(src, true);
  ASSERT_EQ(wait_finished(src), RunState::done);
  EXPECT_THROW(registry().fork(src, 2, {{"count", "ten"}}, job()), InvalidValueError);
  EXPECT_THROW(registry().fork(src, 2, {{"nope", 1}}, job()), InvalidArgumentError);
  EXPECT_THROW(registry().fork(src, 5, Json::object(), job()), InvalidArgumentError);
  EXPECT_THROW(registry().fork("g99", 0, Json::object(), job()), NotFoundError);
}

TEST_F(DurableRegistryTest, ACancelledRunResumesUnderItsIdAndAChangedGraphThatNoLongerFitsIsRefused) {
  const std::string id = registry().submit(job());
  ASSERT_TRUE(registry().wait_until(
      id, [](const RunSnapshot& s) { return s.state == RunState::waiting; }, std::chrono::seconds(30)));
  const std::string gate = registry().gates().at(0).id;
  ASSERT_TRUE(registry().cancel(id));
  ASSERT_EQ(wait_finished(id), RunState::cancelled);

  std::string text;
  for (const auto& line : lines_of(dir_ / "graph.yaml"))
    text += line + "\n" + (line == "      stamp: {dep: stamp, type: string}" ? "      extra: {type: string}\n" : "");
  auto changed = std::make_shared<Graph>(parse_graph(text, (dir_ / "graph.yaml").string()));
  ASSERT_NE(changed->file_sha256, graph_->file_sha256);
  try {
    registry().resume(id, job(changed));
    FAIL() << "a checkpoint that no longer fits was resumed";
  } catch (const FailedPreconditionError& e) {
    EXPECT_NE(std::string(e.what()).find("node 1 ('Work') lacks field 'extra'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(registry().resume(id, job(graph_)), id);
  ASSERT_TRUE(registry().wait_until(
      id, [](const RunSnapshot& s) { return s.state == RunState::waiting; }, std::chrono::seconds(30)));
  EXPECT_EQ(registry().gates().at(0).id, gate);
  registry().answer(gate, true);
  ASSERT_EQ(wait_finished(id), RunState::done) << registry().get(id)->error;
  EXPECT_EQ(trace_json(registry().get(id)->trace), trace_json(expected_trace(4)));
  EXPECT_THROW(registry().resume(id, job(graph_)), FailedPreconditionError) << "a DONE run has nothing to resume";
}

// resume_all resumes what it can and says why it left each other run alone: a DONE run, an unknown
// one, one whose job_for threw.
TEST_F(DurableRegistryTest, ResumeAllResumesEveryRunItCanAndSaysWhyNotForTheOthers) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(registry().submit(job()));
    ASSERT_TRUE(registry().wait_until(
        ids.back(), [](const RunSnapshot& s) { return s.state == RunState::waiting; }, std::chrono::seconds(30)));
    ASSERT_TRUE(registry().cancel(ids.back()));
    ASSERT_EQ(wait_finished(ids.back()), RunState::cancelled);
  }
  const std::string done = registry().submit(job());
  answer_when_open(done, true);
  ASSERT_EQ(wait_finished(done), RunState::done);
  std::vector<std::string> asked = ids;
  asked.push_back(done);
  asked.push_back("g999");
  const auto refused = registry().resume_all(asked, [&](const RunSnapshot& run) {
    if (run.id == ids[2]) throw InvalidArgumentError("no graph for it");
    return job();
  });
  ASSERT_EQ(refused.size(), 3u);
  EXPECT_NE(refused.at(done).find("only a CRASHED, CANCELLED or FAILED"), std::string::npos) << refused.at(done);
  EXPECT_NE(refused.at("g999").find("no run"), std::string::npos) << refused.at("g999");
  EXPECT_EQ(refused.at(ids[2]), "no graph for it");
  EXPECT_EQ(registry().get(ids[2])->state, RunState::cancelled);
  for (int i = 0; i < 2; ++i) {
    answer_when_open(ids[i], true);
    ASSERT_EQ(wait_finished(ids[i]), RunState::done) << registry().get(ids[i])->error;
    EXPECT_EQ(trace_json(registry().get(ids[i])->trace), trace_json(expected_trace(4)));
  }
}

// The model's first Work fill is of the wrong type: the run FAILS, the refused reply is not in the
// ledger, and a resume asks again (and gets a good one).
class FlakyLM : public test::ChaosLM {
 public:
  using ChaosLM::ChaosLM;
  boost::asio::awaitable<LMReply<Json>> fill(const NodeType& target, const Json& resolved, const std::string& how,
                                             const TraceEntry& source) override {
    LMReply<Json> reply = co_await ChaosLM::fill(target, resolved, how, source);
    if (target.name == "Work" && !failed_) failed_ = true, reply.value["count"] = "one";
    co_return reply;
  }

 private:
  bool failed_ = false;
};

TEST_F(DurableRegistryTest, AReplyTheRunRefusedIsAskedAgainOnResume) {
  FlakyLM flaky((dir_ / "lm.log").string(), "1");
  GraphJob j = job();
  j.lm = &flaky;
  const std::string id = registry().submit(j);
  ASSERT_EQ(wait_finished(id), RunState::failed);
  EXPECT_NE(registry().get(id)->error.find("does not match its type"), std::string::npos) << registry().get(id)->error;
  EXPECT_EQ(registry().resume(id, j), id);
  answer_when_open(id, true);
  ASSERT_EQ(wait_finished(id), RunState::done) << registry().get(id)->error;
  EXPECT_EQ(trace_json(registry().get(id)->trace), trace_json(expected_trace(4)));
}

// A dep whose command printed no JSON fails the run; a resume runs the command again.
TEST_F(DurableRegistryTest, ADepThatPrintedNoJsonRunsAgainOnResume) {
  const std::string text = R"(graph: flaky
start: A
functions:
  once:
    exec: [sh, -c, "echo ran >> once.lines; if [ -f once ]; then echo '\"ok\"'; else touch once; echo garbage; fi"]
nodes:
  A:
    fields: {x: {type: integer}}
    next: [B]
  B:
    fields: {d: {dep: once, type: string}}
    next: []
)";
  GraphJob j = job(std::make_shared<Graph>(parse_graph(text, (dir_ / "flaky.yaml").string())));
  j.input = {{"x", 1}};
  const std::string id = registry().submit(j);
  ASSERT_EQ(wait_finished(id), RunState::failed);
  EXPECT_NE(registry().get(id)->error.find("printed no JSON value"), std::string::npos) << registry().get(id)->error;
  EXPECT_EQ(registry().resume(id, j), id);
  ASSERT_EQ(wait_finished(id), RunState::done) << registry().get(id)->error;
  EXPECT_EQ(registry().get(id)->trace.back().fields, (Json{{"d", "ok"}}));
  EXPECT_EQ(lines_of(dir_ / "once.lines").size(), 2u);
}

TEST(RunStoreBoundsTest, RetentionAndMaxStoreBytesDeleteTheOldestFinishedRunsWithTheirLedgers) {
  const fs::path dir = chaos_dir("bounds");
  const auto file = dir / "state" / "runs.sqlite";
  auto finished_run = [](int n, size_t body) {
    StoredRun r;
    r.head.id = "g" + std::to_string(n);
    r.head.kind = RunKind::graph;
    r.head.state = RunState::done;
    r.head.input = {{"pad", std::string(body, 'x')}};
    return r;
  };
  {
    runtime::SqliteRunStore store(file, 5);
    for (int n = 1; n <= 8; ++n) {
      store.put(finished_run(n, 10));
      store.put(LedgerRow{"g" + std::to_string(n), {1, LedgerKind::fill, ""}, {{"value", n}}, nullptr});
    }
    store.flush();
    EXPECT_EQ(store.count(), 5u);
    EXPECT_TRUE(store.ledger("g3").empty()) << "a deleted run's ledger stays";
    EXPECT_EQ(store.ledger("g4").size(), 1u);
  }
  {
    constexpr uint64_t kMax = 256 * 1024;
    runtime::SqliteRunStore store(file, 10000, kMax);
    for (int n = 9; n <= 60; ++n) store.put(finished_run(n, 20000));
    store.flush();
    EXPECT_LE(store.bytes_in_use(), kMax);
    EXPECT_GT(store.count(), 3u);
    EXPECT_FALSE(store.load("g9").has_value()) << "the oldest goes first";
    EXPECT_TRUE(store.load("g60").has_value()) << "the newest stays";
  }
}

// A store of the layout before run_steps and run_ledger: its runs and steps tables (no owner
// column, as the oldest had), then `sql` (more tables, rows). Its file.
fs::path old_store(const std::string& name, const std::string& sql) {
  const auto file = chaos_dir(name) / "state" / "runs.sqlite";
  fs::create_directories(file.parent_path());
  SqliteDb db(file, "old store");
  db.exec(
      "CREATE TABLE runs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, number INTEGER NOT NULL, state TEXT NOT NULL,"
      " body TEXT NOT NULL, updated INTEGER NOT NULL DEFAULT (unixepoch()));"
      "CREATE TABLE steps (run TEXT NOT NULL, part TEXT NOT NULL, idx INTEGER NOT NULL, body TEXT NOT NULL,"
      " PRIMARY KEY (run, part, idx));" +
      sql);
  return file;
}

// A store written before steps and ledgers were keyed by integers is moved over when it opens:
// its runs load with their steps, its ledgers answer as before.
TEST(RunStoreLayoutTest, AStoreOfTheOldLayoutIsMovedOverWhenItOpens) {
  const auto file =
      old_store("layout",
                "CREATE TABLE ledger (run TEXT NOT NULL, node INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,"
                " body TEXT NOT NULL, PRIMARY KEY (run, node, kind, key));"
                "INSERT INTO runs (id, kind, number, state, body) VALUES ('g7', 'graph', 7, 'DONE',"
                " '{\"id\":\"g7\",\"kind\":\"graph\",\"state\":\"DONE\"}');"
                "INSERT INTO steps VALUES ('g7', 'trace', 0, '{\"type\":\"A\",\"fields\":{\"v\":1}}'),"
                " ('g7', 'trace', 1, '{\"type\":\"B\",\"fields\":{\"v\":2}}'),"
                " ('g7', 'nodes', 0, '{\"index\":0,\"node\":\"A\",\"tokens\":{\"prompt\":3,\"generated\":4}}'),"
                " ('c2', 'nodes', 0, '{\"index\":0,\"node\":\"step\"}');"
                "INSERT INTO ledger VALUES ('g7', 1, 'fill', '', '{\"v\":2}'), ('g7', 0, 'choose', '', '\"B\"');");
  runtime::SqliteRunStore store(file, 100);
  const auto run = store.load("g7");
  ASSERT_TRUE(run.has_value());
  ASSERT_EQ(run->trace.size(), 2u);
  EXPECT_EQ(run->trace[1].type, "B");
  EXPECT_EQ(run->trace[1].fields, Json({{"v", 2}}));
  ASSERT_EQ(run->nodes.size(), 1u);
  EXPECT_EQ(run->nodes[0].tokens.generated, 4);
  const auto ledger = store.ledger("g7");
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger.at(LedgerKey{1, LedgerKind::fill, ""}), Json({{"v", 2}}));
  EXPECT_EQ(ledger.at(LedgerKey{0, LedgerKind::choose, ""}), Json("B"));
  EXPECT_TRUE(store.ledger("c2").empty());
  // New entries of a migrated run come after its old ones, and a key recorded again answers with
  // the later value.
  store.put(LedgerRow{"g7", {1, LedgerKind::fill, ""}, {{"v", 3}}, nullptr});
  store.flush();
  EXPECT_EQ(store.ledger("g7").at(LedgerKey{1, LedgerKind::fill, ""}), Json({{"v", 3}}));
}

// A graph run's head is written when its state changes; its node checkpoints write steps only. A
// reader of the store still sees where an unfinished run is, and its tokens so far.
TEST(RunStoreLayoutTest, AnUnfinishedRunLoadsAtItsLastCheckpointWithItsTokens) {
  const fs::path dir = chaos_dir("checkpoint");
  runtime::SqliteRunStore store(dir / "state" / "runs.sqlite", 100);
  StoredRun head;
  head.head.id = "g1";
  head.head.kind = RunKind::graph;
  head.head.state = RunState::running;
  head.head.node = "A";
  store.put(head);
  for (size_t i = 0; i < 3; ++i) {
    StoredRun step;
    step.steps_only = true;
    step.head.id = "g1";
    step.head.kind = RunKind::graph;
    step.head.state = RunState::running;
    step.trace_from = step.nodes_from = i;
    step.trace.push_back(TraceEntry{i == 2 ? "C" : "B", {{"i", i}}});
    NodeTiming t;
    t.index = i;
    t.tokens = {10, 1};
    step.nodes.push_back(t);
    store.put(step);
  }
  store.flush();
  const auto run = store.load("g1");
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->state, RunState::running);
  EXPECT_EQ(run->trace.size(), 3u);
  EXPECT_EQ(run->node, "C");
  EXPECT_EQ(run->tokens.prompt, 30);
  EXPECT_EQ(run->tokens.generated, 3);
  // At a gate, its head was written with the node that waits (after the last checkpoint's).
  StoredRun waiting;
  waiting.head.id = "g1";
  waiting.head.kind = RunKind::graph;
  waiting.head.state = RunState::waiting;
  waiting.head.node = "D";
  waiting.trace_from = waiting.nodes_from = 3;
  store.put(waiting);
  store.flush();
  EXPECT_EQ(store.load("g1")->node, "D");
  EXPECT_EQ(store.load("g1")->trace.size(), 3u);
}

// A store from before ledgers (steps only) opens, and its runs load.
TEST(RunStoreLayoutTest, AStoreWithStepsButNoLedgerOpens) {
  const auto file = old_store("steps_only",
                              "INSERT INTO runs (id, kind, number, state, body) VALUES ('c3', 'chain', 3, 'DONE',"
                              " '{\"id\":\"c3\",\"kind\":\"chain\",\"state\":\"DONE\"}');"
                              "INSERT INTO steps VALUES ('c3', 'nodes', 0, '{\"index\":0,\"node\":\"step\"}');");
  runtime::SqliteRunStore store(file, 100);
  const auto run = store.load("c3");
  ASSERT_TRUE(run.has_value());
  ASSERT_EQ(run->nodes.size(), 1u);
  EXPECT_EQ(run->nodes[0].node, "step");
}

// Ids come in blocks while runs are submitted fast; those not handed out go back when the store
// closes, so the next host's ids go on where this one's stopped.
TEST(RunStoreLayoutTest, IdsTakenInABlockAndNotUsedGoBackWhenTheStoreCloses) {
  const fs::path dir = chaos_dir("ids");
  const auto file = dir / "state" / "runs.sqlite";
  std::set<std::string> ids;
  {
    runtime::SqliteRunStore store(file, 100);
    for (int i = 0; i < 300; ++i) ids.insert(store.allocate_id(RunKind::graph));
    EXPECT_EQ(store.allocate_id(RunKind::chain), "c1");
  }
  EXPECT_EQ(ids.size(), 300u);
  EXPECT_TRUE(ids.count("g1") && ids.count("g300"));
  runtime::SqliteRunStore again(file, 100);
  EXPECT_EQ(again.allocate_id(RunKind::graph), "g301");
  EXPECT_EQ(again.allocate_id(RunKind::chain), "c2");
}

}  // namespace
}  // namespace skein
