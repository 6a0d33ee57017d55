// Scale-out end to end through the `skein` binary and a real PostgreSQL server (SPEC §9): four
// `skein worker` processes, one SIGKILLed at 10 random moments (counted in engine calls) and a new
// one started each time, while the submitter works along: the folder it writes, and the one
// `skein collect` writes, equal a local run's; retried shards are counted. A `skein cancel` from
// another process stops every worker's shard and leaves no engine process behind. The engine is
// the `cli` backend on a shell script that answers deterministically and logs each call.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <random>
#include <thread>

#include "cluster/shard_queue.hpp"
#include "postgres_test.hpp"
#include "run_folder.hpp"

extern char** environ;

namespace skein {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Answers {"code": <checksum of the prompt>}; appends a line to calls.log beside it. With a second
// argument it first sleeps that long (a call that is still running when the run is cancelled).
const char* kTool = R"sh(echo call >> "$(dirname "$0")/calls.log"
[ -n "$2" ] && sleep "$2"
printf '{"code": %s}' "$(printf %s "$1" | cksum | cut -d' ' -f1)"
)sh";

std::string chain_text(const fs::path& tool, const std::string& pause) {
  return R"(chain: spread
engines:
  tool:
    backend: cli
    command: [sh, )" +
         tool.string() + R"(, "{prompt}")" + (pause.empty() ? "" : ", \"" + pause + "\"") + R"(]
    parallel: 4
types:
  Code: {type: object, properties: {code: {type: integer}}, required: [code]}
batch_size: 5
steps:
  - step: first
    engine: tool
    output: Code
    user: "item {{ chain_input.n }}"
    sampling: {temperature: 0}
  - apply: tags
    fn: explode
    field: chain_input.tags
  - apply: kept
    fn: filter
    where: tags != "skip"
)";
}

std::string input_text(int n) {
  std::string in;
  for (int i = 0; i < n; ++i) {
    if (i % 97 == 7) in += "{not json\n";
    in += R"({"n": )" + std::to_string(i) + R"(, "tags": ["a", "skip", "b)" + std::to_string(i % 3) + "\"]}\n";
  }
  return in;
}

class ClusterCliTest : public test::PostgresTest<test::RunFolderTest> {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    std::ofstream(dir_ / "tool.sh") << kTool;
    setenv("SKEIN_CACHE", (dir_ / "cache").c_str(), 1);  // no other test's responses
  }
  void write_chain(const std::string& pause = "") {
    std::ofstream(dir_ / "chain.yaml") << chain_text(dir_ / "tool.sh", pause);
  }

  // Starts `skein args…`, its stdout into `out`, its stderr appended to stderr.txt.
  pid_t start(std::vector<std::string> args, const std::string& out = "/dev/null") {
    args.insert(args.begin(), std::string(SKEIN_BINARY_DIR) + "/skein");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, (dir_ / "stderr.txt").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid = 0;
    EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    return pid;
  }
  static int finish(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  int skein(std::vector<std::string> args, const std::string& out = "/dev/null") {
    return finish(start(std::move(args), out));
  }
  pid_t worker() { return start({"worker", url(), "--lease-ms", "1000", "-q"}); }
  size_t calls() const {
    std::ifstream in(dir_ / "calls.log");
    size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  }
  std::string text(const std::string& file) const {
    std::ifstream in(dir_ / file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Waits, on the database's own wake-ups, until the run leaves `running`.
  cluster::RunProgress wait_for_end(const std::string& id) {
    cluster::ShardQueue q(url());
    q.listen("skein_cancel");
    for (;;) {
      const cluster::RunProgress p = q.progress(id);
      if (p.state != ChainStatus::running) return p;
      q.wait(100ms);
    }
  }
};

TEST_F(ClusterCliTest, WorkersKilledAtTenRandomMomentsLoseAndDoubleNothing) {
  write_chain();
  std::ofstream(dir_ / "in.jsonl") << input_text(300);
  ASSERT_EQ(skein({"run", (dir_ / "chain.yaml").string(), "-i", (dir_ / "in.jsonl").string(), "-o",
                   (dir_ / "local").string(), "--no-cache", "-q"}),
            1);  // 1: the run has error records (the bad lines)
  const size_t local_calls = calls();

  std::vector<pid_t> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(worker());
  const pid_t submitter =
      start({"run", (dir_ / "chain.yaml").string(), "-i", (dir_ / "in.jsonl").string(), "-o",
             (dir_ / "cluster").string(), "--cluster", url(), "--shard-size", "15", "--lease-ms", "1000", "--no-cache"},
            (dir_ / "submitter.txt").string());
  std::mt19937 random(20261202);
  int kills = 0;
  for (; kills < 10; ++kills) {  // each after 3 to 15 more engine calls, while the run goes on
    const size_t at = calls() + std::uniform_int_distribution<size_t>(3, 15)(random);
    while (calls() < at) {
      ASSERT_NE(waitpid(submitter, nullptr, WNOHANG), submitter) << "the run ended before kill " << kills + 1;
      std::this_thread::sleep_for(1ms);
    }
    const size_t victim = std::uniform_int_distribution<size_t>(0, workers.size() - 1)(random);
    kill(workers[victim], SIGKILL);
    finish(workers[victim]);
    workers[victim] = worker();
  }
  EXPECT_EQ(finish(submitter), 1);  // done, with error records
  for (pid_t w : workers) kill(w, SIGTERM);
  for (pid_t w : workers) EXPECT_EQ(finish(w), 0) << "a worker stops cleanly on SIGTERM";

  const auto local = test::artefacts(dir_ / "local");
  EXPECT_EQ(test::artefacts(dir_ / "cluster"), local);
  std::ifstream run_json(dir_ / "cluster" / "run.json");
  const Json cluster_run = Json::parse(run_json), local_run = Json::parse(std::ifstream(dir_ / "local" / "run.json"));
  EXPECT_EQ(cluster_run["counts"], local_run["counts"]);
  EXPECT_EQ(cluster_run["nodes"], local_run["nodes"]);
  const std::string id = cluster_run["cluster"]["run"];
  const int retries = cluster_run["cluster"]["retries"];
  EXPECT_GE(retries, 1) << "some killed worker held a shard";
  EXPECT_GE(calls() - local_calls, size_t(300 - 300 / 97)) << "every record was answered at least once";
  EXPECT_NE(text("submitter.txt").find("outputs:"), std::string::npos);
  EXPECT_NE(text("stderr.txt").find("retried"), std::string::npos) << "the summary counts retries";
  std::printf("kills %d, retried shard attempts %d, engine calls %zu for %zu locally\n", kills, retries,
              calls() - local_calls, local_calls);

  // Every shard committed once: done, its attempts the retries; collect writes the same folder.
  cluster::ShardQueue q(url());
  const cluster::RunProgress p = q.progress(id);
  EXPECT_EQ(p.state, ChainStatus::done);
  EXPECT_EQ(p.done, p.shards);
  EXPECT_EQ(p.retries, retries);
  EXPECT_EQ(skein({"collect", id, "--cluster", url(), "-o", (dir_ / "collected").string()}), 1);
  EXPECT_EQ(test::artefacts(dir_ / "collected"), local);
  EXPECT_EQ(skein({"runs", "--cluster", url()}, (dir_ / "runs.txt").string()), 0);
  EXPECT_NE(text("runs.txt").find(id), std::string::npos);
}

// The submitter, working alone, goes on through a database restart (its worker and its progress
// watch reconnect) and writes the local run's folder. Its replies are in the database's cache: a
// second cluster run of the chain makes no engine call and writes the same folder again.
TEST_F(ClusterCliTest, TheSubmitterSurvivesADatabaseRestartAndARerunMakesNoEngineCall) {
  write_chain("0.1");  // 100 ms a call, 4 at once: the run goes on for seconds after the restart
  std::ofstream(dir_ / "in.jsonl") << input_text(200);
  ASSERT_EQ(skein({"run", (dir_ / "chain.yaml").string(), "-i", (dir_ / "in.jsonl").string(), "-o",
                   (dir_ / "local").string(), "--no-cache", "-q"}),
            1);
  const size_t local_calls = calls();
  const auto cluster_run = [&](const std::string& out) {
    return start({"run", (dir_ / "chain.yaml").string(), "-i", (dir_ / "in.jsonl").string(), "-o",
                  (dir_ / out).string(), "--cluster", url(), "--shard-size", "15", "--lease-ms", "1000"});
  };
  pid_t submitter = cluster_run("cluster");
  struct Reap {  // however the test ends, no submitter is left behind
    pid_t& pid;
    ~Reap() {
      if (pid > 0) kill(pid, SIGKILL), finish(pid);
    }
  } reap{submitter};
  while (calls() < local_calls + 40) {
    ASSERT_NE(waitpid(submitter, nullptr, WNOHANG), submitter) << "the run ended before the restart";
    std::this_thread::sleep_for(1ms);
  }
  const size_t at_restart = calls();
  server_->stop("fast");
  server_->start();
  EXPECT_EQ(finish(std::exchange(submitter, 0)), 1) << text("stderr.txt");  // done, with error records
  EXPECT_GT(calls(), at_restart + 40) << "the run was meant to go on after the restart";
  const auto local = test::artefacts(dir_ / "local");
  EXPECT_EQ(test::artefacts(dir_ / "cluster"), local);
  EXPECT_NE(text("stderr.txt").find("reconnect"), std::string::npos) << text("stderr.txt");

  const size_t before = calls();
  EXPECT_EQ(finish(cluster_run("again")), 1);
  EXPECT_EQ(calls(), before) << "the re-run asked the engine";
  EXPECT_EQ(test::artefacts(dir_ / "again"), local);
  std::printf("engine calls: %zu locally, %zu in the cluster run through a restart, 0 in its re-run\n", local_calls,
              before - local_calls);
}

// The run folder is written once every shard is done: an output folder that cannot take it (it
// holds a file Skein did not write) is refused before anything is stored or asked.
TEST_F(ClusterCliTest, AnOutputFolderThatCannotTakeTheRunIsRefusedBeforeTheRunIsStored) {
  write_chain();
  std::ofstream(dir_ / "in.jsonl") << input_text(20);
  fs::create_directories(dir_ / "taken");
  std::ofstream(dir_ / "taken" / "notes.txt") << "mine\n";
  EXPECT_EQ(skein({"run", (dir_ / "chain.yaml").string(), "-i", (dir_ / "in.jsonl").string(), "-o",
                   (dir_ / "taken").string(), "--cluster", url(), "-q"}),
            1);
  EXPECT_NE(text("stderr.txt").find("'notes.txt', which is not a Skein artefact"), std::string::npos)
      << text("stderr.txt");
  EXPECT_TRUE(cluster::ShardQueue(url()).runs().empty());
  EXPECT_EQ(calls(), 0u);
  EXPECT_TRUE(fs::exists(dir_ / "taken" / "notes.txt"));
}

// The processes of the engine's calls, found by the pause only they are given.
int engine_processes(const std::string& marker) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string cmd;
    try {  // libstdc++ throws from a read that fails: the process ended while we read it
      std::ifstream in(e.path() / "cmdline");
      cmd.assign(std::istreambuf_iterator<char>(in), {});
    } catch (const std::ios_base::failure&) {
      continue;
    }
    n += cmd.find(marker) != std::string::npos && cmd.find("sleep") != std::string::npos;
  }
  return n;
}

TEST_F(ClusterCliTest, ACancelFromAnotherProcessStopsEveryWorkerAndLeavesNoProcess) {
  const std::string pause = "30.0" + std::to_string(getpid());  // a marker only this test's calls carry
  write_chain(pause);
  std::ofstream(dir_ / "in.jsonl") << input_text(200);
  ASSERT_EQ(skein({"run", (dir_ / "chain.yaml").string(), "-i", (dir_ / "in.jsonl").string(), "--cluster", url(),
                   "--shard-size", "20", "--detach", "--no-cache"},
                  (dir_ / "id.txt").string()),
            0);
  std::string id = text("id.txt");
  id.erase(id.find_last_not_of('\n') + 1);
  std::vector<pid_t> workers = {worker(), worker(), worker()};
  while (engine_processes(pause) < 3) std::this_thread::sleep_for(5ms);  // calls in flight
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(skein({"cancel", id, "--cluster", url()}), 0);
  EXPECT_EQ(wait_for_end(id).state, ChainStatus::cancelled);
  while (engine_processes(pause) > 0) std::this_thread::sleep_for(5ms);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("cancel to no engine process left: %.3f s\n", seconds);
  EXPECT_LT(seconds, 5.0);  // measured 0.1–0.3 s; this only catches a worker waiting out its call
  for (pid_t w : workers) kill(w, SIGTERM);
  for (pid_t w : workers) EXPECT_EQ(finish(w), 0);
  EXPECT_EQ(skein({"cancel", "no-such-run", "--cluster", url()}), 1);
}

}  // namespace
}  // namespace skein
