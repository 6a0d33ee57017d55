// A chain run spread over workers through a real PostgreSQL server (SPEC §9): the folder written
// from the database equals a local run's file by file (bad lines, input-type errors, fan-out and
// file roll-over included, batches not dividing shards); a shard whose worker vanished is taken
// over when its lease runs out and committed once; a cancel from another connection stops every
// worker's shard; a database restart mid-run loses and doubles nothing; the response cache in the
// database answers a re-run without an engine call, and a retried shard repeats no kept call.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "chain/run_state.hpp"
#include "cluster/run_folder.hpp"
#include "cluster/shard_cutter.hpp"
#include "cluster/worker.hpp"
#include "postgres_test.hpp"
#include "run_folder.hpp"
#include "test_engine.hpp"

namespace skein::cluster {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* kChain = R"(chain: spread
input:
  type: object
  properties: {i: {type: integer}, tags: {type: array, items: {type: integer}}}
  required: [i, tags]
steps:
  - step: a
    output: {type: object, properties: {a: {type: integer}}, required: [a]}
    user: "record {{ chain_input.i }}"
    sampling: {temperature: 0}
  - apply: tag
    fn: explode
    field: chain_input.tags
  - apply: kept
    fn: filter
    where: tag >= 1
)";

const char kNul[] = "{\"i\": 1, \0\"tags\": []}";

// 10,000 lines: every 97th not JSON, every 89th of the wrong type, every 101st blank, every 211th
// not UTF-8 or holding a NUL byte; 0 to 3 tags.
std::string input_text(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    if (i % 97 == 5)
      text += "not json";
    else if (i % 89 == 3)
      text += R"({"i": "x", "tags": []})";
    else if (i % 101 == 7)
      text += "";
    else if (i % 211 == 9)
      text += i % 2 ? std::string("{\"i\": \"caf\xe9\"}") : std::string(kNul, sizeof kNul - 1);
    else
      text += "{\"i\": " + std::to_string(i) + ", \"tags\": [" +
              std::string(i % 4 == 0   ? ""
                          : i % 4 == 1 ? "0"
                          : i % 4 == 2 ? "1, 2"
                                       : "0, 1, 2") +
              "]}";
    text += "\n";
  }
  return text;
}

Broker::Factory instant() {
  return [](const EngineConfig& c) { return std::make_unique<test::TestEngine>(c.name, R"({"a": 1})"); };
}

// An instant engine counting the calls it answers, over all its instances.
class CountingEngine : public test::TestEngine {
 public:
  using TestEngine::TestEngine;
  std::shared_ptr<PendingRequest> submit(GenerateRequest r, std::function<void(GenerateResult)> done) override {
    ++calls();
    return TestEngine::submit(std::move(r), std::move(done));
  }
  static std::atomic<long long>& calls() {
    static std::atomic<long long> n{0};
    return n;
  }
};

Broker::Factory counting() {
  return [](const EngineConfig& c) { return std::make_unique<CountingEngine>(c.name, R"({"a": 1})"); };
}

Json run_json(const fs::path& dir) { return Json::parse(std::ifstream(dir / "run.json")); }

class ClusterRunTest : public test::PostgresTest<test::RunFolderTest> {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    chain_ = parse(kChain);
    std::ofstream(dir_ / "in.jsonl") << input_text(10000);
    warm_up();
  }

  // llama.cpp's jinja (an uninstrumented static library) builds its builtin tables in function-local
  // statics on first use, and ThreadSanitizer cannot see the inlined guard check that publishes them
  // to other threads. Using them here first, before any worker thread starts, orders every later
  // use after their construction in a way it sees (thread creation).
  void warm_up() {
    std::ofstream(dir_ / "warm.jsonl") << input_text(300);
    Broker broker({}, instant());
    RunOptions o;
    o.input_path = (dir_ / "warm.jsonl").string();
    o.output_dir = (dir_ / "warm").string();
    o.broker = &broker;
    run_chain(chain_, o);
    fs::remove_all(dir_ / "warm");
  }
  // The local run of the chain over in.jsonl into <dir>/local.
  void run_locally() {
    Broker broker({}, instant());
    RunOptions o;
    o.input_path = (dir_ / "in.jsonl").string();
    o.output_dir = (dir_ / "local").string();
    o.batch_size = kBatch;
    o.max_lines_per_file = 3000;
    o.broker = &broker;
    run_chain(chain_, o);
  }

  // Stores the run of in.jsonl in shards of 500 records (whole batches of 64); its id.
  std::string submit(ShardQueue& q, const std::string& id = "run1", bool cache = false) {
    std::ifstream in(dir_ / "in.jsonl");
    return submit(q, id, in, 500, cache);
  }
  std::string submit(ShardQueue& q, const std::string& id, std::istream& in, int shard_size, bool cache) {
    ShardCutter cutter(chain_, in, "in.jsonl", kBatch, shard_size, false);
    RunSpec spec{id, kChain, chain_.file_sha256, Json::object()};
    spec.options = {{"file", chain_.file},  {"input", (dir_ / "in.jsonl").string()},
                    {"batch_size", kBatch}, {"max_lines_per_file", 3000},
                    {"cache", cache},       {"started_at", utc_now()}};
    q.submit(spec, [&] { return cutter.next(); });
    return id;
  }

  WorkerOptions worker_options(Broker::Factory factory, const std::string& run, std::chrono::milliseconds lease = 10s) {
    WorkerOptions o;
    o.url = url();
    o.lease = lease;
    o.only_run = run;
    o.factory = std::move(factory);
    o.scratch = dir_ / ("scratch-" + std::to_string(++workers_));
    return o;
  }

  // `n` workers, each with its own broker, working on `run` until it ends.
  std::vector<WorkerStats> work(int n, const std::string& run, std::chrono::milliseconds lease = 10s,
                                Broker::Factory factory = instant()) {
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < n; ++i) workers.push_back(std::make_unique<Worker>(worker_options(factory, run, lease)));
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
    for (auto& t : threads) t.join();
    std::vector<WorkerStats> stats;
    for (auto& w : workers) stats.push_back(w->stats());
    return stats;
  }

  // The cluster folder equals the local one: every file byte for byte, run.json's counts.
  void expect_same_folder(ShardQueue& q, const std::string& run) {
    run_locally();
    write_run_folder(q, *q.run(run), chain_, (dir_ / "cluster").string());
    const auto local = test::artefacts(dir_ / "local"), cluster = test::artefacts(dir_ / "cluster");
    ASSERT_GT(local.size(), 5u);  // graph.json, a/, tag/ (rolled over), kept/, flattened/, errors.jsonl
    EXPECT_TRUE(local.count("tag/001.jsonl")) << "the test means to roll files over";
    for (const auto& [path, text] : local) {
      ASSERT_TRUE(cluster.count(path)) << path;
      EXPECT_TRUE(cluster.at(path) == text) << path << " differs";
    }
    EXPECT_EQ(cluster.size(), local.size());
    const Json l = run_json(dir_ / "local"), c = run_json(dir_ / "cluster");
    EXPECT_EQ(c["counts"], l["counts"]);
    EXPECT_EQ(c["nodes"], l["nodes"]);
    EXPECT_EQ(c["status"], "done");
    EXPECT_EQ(c["cluster"]["run"], run);
  }

  static constexpr int kBatch = 64;
  Chain chain_;
  int workers_ = 0;
};

TEST_F(ClusterRunTest, ShardsEndWhereTheLocalRunsBatchesEnd) {
  std::istringstream in(input_text(2000));
  ShardCutter cutter(chain_, in, "in.jsonl", kBatch, 100, false);  // 100 records: two batches of 64
  long long line = 1, row = 0;
  int shards = 0;
  while (auto s = cutter.next()) {
    EXPECT_EQ(s->first_line, line);
    EXPECT_EQ(s->first_row, row);
    int valid = 0;
    std::istringstream lines(s->text);
    for (std::string l; std::getline(lines, l); ++line) {
      if (l.empty()) continue;
      ++row;
      Json j = Json::parse(l, nullptr, false);
      valid += !j.is_discarded() && j["i"].is_number_integer();
    }
    if (cutter.lines() < 2000) EXPECT_EQ(valid, 128) << "shard " << shards;
    ++shards;
  }
  EXPECT_EQ(line, 2001);
  EXPECT_GT(shards, 10);
}

TEST_F(ClusterRunTest, TenThousandRecordsOnThreeWorkersWriteTheLocalRunsFolder) {
  ShardQueue q(url());
  const std::string run = submit(q);
  const auto stats = work(3, run);
  int committed = 0;
  for (const auto& s : stats) committed += s.committed;
  const RunProgress p = q.progress(run);
  EXPECT_EQ(p.state, ChainStatus::done);
  EXPECT_EQ(committed, p.shards);
  EXPECT_EQ(p.retries, 0);
  expect_same_folder(q, run);
  EXPECT_FALSE(q.cancel(run)) << "a run whose every shard is committed is done, not cancelled";
  EXPECT_EQ(q.progress(run).state, ChainStatus::done);
}

// A fault every worker meets (here: the engine never starts) fails the run at a shard's third
// attempt, with the reason; the workers stop. A fault of one machine would be retried elsewhere.
TEST_F(ClusterRunTest, AShardThatFailsOnEveryAttemptFailsTheRunWithTheReason) {
  ShardQueue q(url());
  const std::string run = submit(q);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < 2; ++i)
    workers.push_back(std::make_unique<Worker>(worker_options(
        [](const EngineConfig&) -> std::unique_ptr<Engine> { throw EngineError("main", "no GPU here"); }, run)));
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  for (auto& t : threads) t.join();
  const RunProgress p = q.progress(run);
  EXPECT_EQ(p.state, ChainStatus::failed);
  EXPECT_NE(p.error.find("no GPU here"), std::string::npos) << p.error;
  // Each failed attempt released its shard; the run failed at the first shard to fail kMaxAttempts times.
  EXPECT_GE(workers[0]->stats().failed + workers[1]->stats().failed, kMaxAttempts);
  EXPECT_EQ(workers[0]->stats().committed + workers[1]->stats().committed, 0);
}

// One worker on two runs whose chains mean different models by the same engine name: each run is
// answered by its own chain's engine (a broker per run), not by the engine the last run started.
TEST_F(ClusterRunTest, EachRunGetsItsOwnChainsEnginesOnAWorkerThatServedAnother) {
  const auto chain_for = [](const std::string& model) {
    return "chain: c\nengines:\n  main: {backend: openai, endpoint: 'http://127.0.0.1:9/v1', model: " + model +
           "}\nsteps:\n  - step: a\n    engine: main\n    output: {type: object, properties: {a: {type: "
           "integer}}, required: [a]}\n    user: hi\n";
  };
  ShardQueue q(url());
  for (const std::string model : {"one", "two"}) {
    const Chain chain = parse(chain_for(model));
    std::istringstream in("{}\n{}\n");
    ShardCutter cutter(chain, in, "in.jsonl", 8, 100, false);
    q.submit({model, chain_for(model), chain.file_sha256, {{"cache", false}}}, [&] { return cutter.next(); });
  }
  WorkerOptions o = worker_options(
      [](const EngineConfig& c) {
        return std::make_unique<test::TestEngine>(c.name, c.model == "one" ? R"({"a": 1})" : R"({"a": 2})");
      },
      "");
  Worker worker(o);
  std::thread working([&] { worker.run(); });
  while (q.progress("one").state == ChainStatus::running || q.progress("two").state == ChainStatus::running)
    q.wait(20ms);
  worker.stop();
  working.join();
  for (const auto& [run, a] : {std::pair{"one", 1}, {"two", 2}}) {
    const auto r = q.result(run, 0);
    ASSERT_TRUE(r) << run;
    ASSERT_EQ(r->outputs.at(0).first, "a");
    EXPECT_NE(r->outputs.at(0).second.find("\"output\":{\"a\":" + std::to_string(a) + "}"), std::string::npos)
        << run << ": " << r->outputs.at(0).second;
  }
}

// $TMPDIR set for a scope, then as it was.
struct TempDirFor {
  explicit TempDirFor(const fs::path& dir) : had(std::getenv("TMPDIR") != nullptr) {
    if (had) old = std::getenv("TMPDIR");
    setenv("TMPDIR", dir.c_str(), 1);
  }
  ~TempDirFor() { had ? setenv("TMPDIR", old.c_str(), 1) : unsetenv("TMPDIR"); }
  bool had;
  std::string old;
};

// A descriptor closed when it goes.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// A worker killed by SIGKILL leaves its default scratch folder behind: the next worker on the
// machine removes those whose process is gone and whose lock is free (a worker in another PID
// namespace holds its own), and no other: not a live process's, not a link, not another name.
TEST_F(ClusterRunTest, AWorkerRemovesTheScratchFoldersOfKilledWorkersAndNoOther) {
  const fs::path temp = dir_ / "tmp";
  fs::create_directories(temp);
  pid_t dead[3];
  for (pid_t& pid : dead) {
    pid = fork();
    if (pid == 0) _exit(0);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(waitpid(pid, nullptr, 0), pid);
  }
  const auto folder = [&](const std::string& name) {
    fs::create_directories(temp / name / "run");
    std::ofstream(temp / name / "run" / "left.jsonl") << "{}\n";
    return temp / name;
  };
  const std::string prefix = "skein-worker-";
  const fs::path orphan = folder(prefix + std::to_string(dead[0]) + "-a1b2c3");
  const fs::path orphan_before = folder(prefix + std::to_string(dead[1]));  // a name of the version before
  const fs::path locked = folder(prefix + std::to_string(dead[2]) + "-d4e5f6");
  const fs::path alive = folder(prefix + std::to_string(getppid()) + "-g7h8i9");
  const fs::path zero = folder(prefix + "0" + std::to_string(dead[0]));
  const fs::path target = folder("target");
  fs::create_directory_symlink(target, temp / (prefix + std::to_string(dead[1]) + "-link00"));
  const Fd lock{open(locked.c_str(), O_RDONLY | O_DIRECTORY)};
  ASSERT_GE(lock.fd, 0);
  ASSERT_EQ(flock(lock.fd, LOCK_EX | LOCK_NB), 0);
  for (const pid_t pid : dead) ASSERT_TRUE(kill(pid, 0) == -1 && errno == ESRCH) << "pid " << pid << " reused";
  {
    const TempDirFor tmpdir(temp);
    WorkerOptions o = worker_options(instant(), "none");
    o.scratch.clear();
    std::vector<std::string> events;
    o.on_event = [&](const std::string& e) { events.push_back(e); };
    Worker worker(o);
    EXPECT_TRUE(events.empty()) << testing::PrintToString(events);
    // Its own: made, and locked while it lives
    std::vector<fs::path> own;
    for (const auto& entry : fs::directory_iterator(temp))
      if (entry.path().filename().string().starts_with(prefix + std::to_string(getpid()) + "-"))
        own.push_back(entry.path());
    ASSERT_EQ(own.size(), 1u);
    const Fd probe{open(own[0].c_str(), O_RDONLY | O_DIRECTORY)};
    EXPECT_EQ(flock(probe.fd, LOCK_EX | LOCK_NB), -1);
    EXPECT_EQ(errno, EWOULDBLOCK);
  }
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_FALSE(fs::exists(orphan_before));
  for (const fs::path& kept : {locked, alive, zero, target})
    EXPECT_TRUE(fs::exists(kept / "run" / "left.jsonl")) << kept;
  EXPECT_TRUE(fs::is_symlink(temp / (prefix + std::to_string(dead[1]) + "-link00")));
  for (const auto& entry : fs::directory_iterator(temp))  // its own removed when it went
    EXPECT_FALSE(entry.path().filename().string().starts_with(prefix + std::to_string(getpid()))) << entry.path();
}

TEST_F(ClusterRunTest, AChainsWarningIsSaidOncePerRunNotOncePerShard) {
  const char* text =
      "chain: same\nsteps:\n  - step: a\n    output: {type: object, properties: {a: {type: integer}}, "
      "required: [a]}\n    user: hi\n";
  const Chain chain = parse(text);
  ShardQueue q(url());
  std::istringstream in("{}\n{}\n{}\n");
  ShardCutter cutter(chain, in, "in.jsonl", 1, 1, false);
  ASSERT_EQ(q.submit({"same", text, chain.file_sha256, {{"cache", false}}}, [&] { return cutter.next(); }), 3);
  WorkerOptions o = worker_options(instant(), "same");
  std::vector<std::string> events;
  o.on_event = [&](const std::string& e) { events.push_back(e); };
  Worker(o).run();
  EXPECT_EQ(q.progress("same").state, ChainStatus::done);
  const auto warnings = std::count_if(events.begin(), events.end(), [](const std::string& e) {
    return e.find("reads nothing from the history") != std::string::npos;
  });
  EXPECT_EQ(warnings, 1) << testing::PrintToString(events);
}

TEST_F(ClusterRunTest, AVanishedWorkersShardIsTakenOverAfterItsLeaseAndCommittedOnce) {
  ShardQueue q(url());
  const std::string run = submit(q);
  // A worker that claims two shards and dies: nothing renews their leases.
  ASSERT_TRUE(q.claim("dead", 300ms, run));
  ASSERT_TRUE(q.claim("dead", 300ms, run));
  const auto stats = work(2, run, 1s);
  const RunProgress p = q.progress(run);
  EXPECT_EQ(p.state, ChainStatus::done);
  EXPECT_EQ(p.retries, 2);  // the two shards' second attempts
  EXPECT_EQ(stats[0].committed + stats[1].committed, p.shards);
  expect_same_folder(q, run);
}

// An engine that answers only when cancelled: a shard's run stays in flight until stopped.
class StuckEngine : public Engine {
 public:
  explicit StuckEngine(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  bool alive() const override { return true; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest, std::function<void(GenerateResult)> done) override {
    auto p = std::make_shared<Pending>();
    p->done = std::move(done);
    std::lock_guard l(mu_);
    pending_.push_back(p);  // the engine owns its requests; callers hold them weakly
    if (pending_.size() == 1) started_.open();
    return p;
  }
  static test::Gate& started() { return started_; }

 private:
  struct Pending : PendingRequest {
    std::function<void(GenerateResult)> done;
    std::once_flag once;
    void cancel() override {
      std::call_once(once, [&] {
        GenerateResult r;
        r.error = "cancelled";
        r.finish = Finish::cancelled;
        done(std::move(r));
      });
    }
  };
  std::string name_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Pending>> pending_;
  static inline test::Gate started_;
};

TEST_F(ClusterRunTest, ACancelFromAnotherConnectionStopsEveryWorkersShard) {
  ShardQueue q(url());
  const std::string run = submit(q);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < 3; ++i)
    workers.push_back(std::make_unique<Worker>(
        worker_options([](const EngineConfig& c) { return std::make_unique<StuckEngine>(c.name); }, run)));
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  StuckEngine::started().wait();  // at least one shard is in flight
  const auto t0 = std::chrono::steady_clock::now();
  ShardQueue(url()).cancel(run);
  for (auto& t : threads) t.join();  // each worker's run() returns once its shard has stopped
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("cancel to every worker stopped: %.3f s\n", seconds);
  EXPECT_LT(seconds, 5.0);  // 0.1–0.3 s measured; the bound only catches a worker that waits out its lease
  int left = 0, committed = 0;
  for (auto& w : workers) left += w->stats().abandoned, committed += w->stats().committed;
  EXPECT_GE(left, 1);
  EXPECT_EQ(committed, 0);
  EXPECT_EQ(q.progress(run).state, ChainStatus::cancelled);
}

TEST_F(ClusterRunTest, ADatabaseRestartMidRunLosesAndDoublesNothing) {
  ShardQueue q(url());
  const std::string run = submit(q);
  std::vector<WorkerStats> stats;
  std::thread working([&] { stats = work(2, run, 1s); });
  for (ShardQueue watch(url()); watch.progress(run).done < 3;) watch.wait(20ms);
  server_->stop("fast");
  server_->start();
  working.join();
  ShardQueue after(url());
  const RunProgress p = after.progress(run);
  EXPECT_EQ(p.state, ChainStatus::done);
  EXPECT_GE(stats[0].reconnects + stats[1].reconnects, 2);
  expect_same_folder(after, run);
}

// The response cache lives in the database: a second run of the same chain over the same input,
// on other workers, is answered from it without one engine call and writes the same files.
TEST_F(ClusterRunTest, ARerunOfTheWholeChainIsAnsweredFromTheDatabaseWithNoEngineCall) {
  ShardQueue q(url());
  CountingEngine::calls() = 0;
  {
    const std::string run = submit(q, "first", true);
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < 2; ++i) workers.push_back(std::make_unique<Worker>(worker_options(counting(), run)));
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
    for (auto& t : threads) t.join();
    // Each shard's replies were written before it was committed: all there while the workers
    // (and their caches' threads) still live.
    EXPECT_EQ(pg::Connection(url()).exec("SELECT count(*) FROM skein_responses").integer(0, 0),
              CountingEngine::calls().load());
  }
  const long long calls = CountingEngine::calls();
  EXPECT_GT(calls, 9000);  // one per valid record
  work(2, submit(q, "again", true), 10s, counting());
  EXPECT_EQ(CountingEngine::calls(), calls) << "the re-run asked an engine";
  write_run_folder(q, *q.run("first"), chain_, (dir_ / "first").string());
  write_run_folder(q, *q.run("again"), chain_, (dir_ / "again").string());
  const auto first = test::artefacts(dir_ / "first"), again = test::artefacts(dir_ / "again");
  EXPECT_EQ(again.size(), first.size());
  for (const auto& [path, text] : first)
    if (path != "run.json") EXPECT_TRUE(again.count(path) && again.at(path) == text) << path;
  const Json a = run_json(dir_ / "again")["nodes"]["a"];
  EXPECT_EQ(a["engine_calls"], 0) << a;
  EXPECT_EQ(a["cached"], calls) << a;
}

// An engine that answers its first `answered` calls and then only when cancelled.
class StallingEngine : public Engine {
 public:
  StallingEngine(std::string name, int answered) : name_(std::move(name)), stuck_(name_), left_(answered) {}
  const std::string& name() const override { return name_; }
  bool alive() const override { return true; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest r, std::function<void(GenerateResult)> done) override {
    if (left_-- > 0) return test::TestEngine(name_, R"({"a": 1})").submit(std::move(r), std::move(done));
    return stuck_.submit(std::move(r), std::move(done));
  }

 private:
  std::string name_;
  StuckEngine stuck_;
  std::atomic<int> left_;
};

// A worker answers 64 of a shard's 200 calls, keeps them in the cache and vanishes; the worker that
// takes the shard over when its lease runs out asks an engine only for the other 136.
TEST_F(ClusterRunTest, AShardTakenOverAfterItsWorkerVanishedRepeatsNoCallTheFirstAttemptKept) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "{\"i\": " + std::to_string(i) + ", \"tags\": [1]}\n";
  std::istringstream in(text);
  ShardQueue q(url());
  const std::string run = submit(q, "run1", in, 1000, true);  // one shard
  ASSERT_EQ(q.progress(run).shards, 1);
  Worker vanishing(
      worker_options([](const EngineConfig& c) { return std::make_unique<StallingEngine>(c.name, 64); }, run, 500ms));
  std::thread working([&] { vanishing.run(); });
  pg::Connection db(url());
  const auto deadline = std::chrono::steady_clock::now() + 60s;  // only catches replies never written
  while (db.exec("SELECT count(*) FROM skein_responses").integer(0, 0) < 64) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the first attempt's replies never reached the cache";
    q.wait(20ms);
  }
  vanishing.stop();  // its shard is left to its lease, its 64 replies are in the cache
  working.join();
  EXPECT_EQ(vanishing.stats().committed, 0);
  CountingEngine::calls() = 0;
  work(1, run, 10s, counting());
  EXPECT_EQ(q.progress(run).state, ChainStatus::done);
  EXPECT_EQ(CountingEngine::calls(), 200 - 64);
  const auto r = q.result(run, 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::count(r->outputs.at(0).second.begin(), r->outputs.at(0).second.end(), '\n'), 200);
  EXPECT_EQ(db.exec("SELECT count(*) FROM skein_responses").integer(0, 0), 200);
}

}  // namespace
}  // namespace skein::cluster
