// Managed llama-server engines through the broker: started on first lease, stopped on release,
// failures reported with the server's log, and no server outliving a Skein killed with SIGKILL
// (checked by process listing, not assumed).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <thread>

#include <filesystem>
#include <fstream>
#include <future>

#include "engine/managed/managed_server.hpp"
#include "engine/process/subprocess.hpp"
#include "fixture.hpp"
#include "skein/broker.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

EngineConfig server_config(const std::string& name, const std::string& model) {
  EngineConfig c;
  c.name = name;
  c.backend = "llama-server";
  c.model = model;
  c.parallel = 2;
  c.keep_alive = 0;
  c.startup_timeout = 60;
  c.options = {{"context", 1024}, {"args", {"--no-jinja", "-t", "1", "--no-webui"}}};
  return c;
}

class ManagedServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = fs::temp_directory_path() / ("skein-state-" + std::to_string(::getpid()) + "-" +
                                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(state_);
    setenv("SKEIN_STATE_DIR", state_.c_str(), 1);
  }
  void TearDown() override { fs::remove_all(state_); }
  fs::path state_;
};

TEST_F(ManagedServerTest, StartsOnFirstLeaseServesAndStopsOnRelease) {
  Broker broker;
  broker.add(server_config("srv", test::model_path("local")));
  EXPECT_TRUE(recorded_servers().empty()) << "lazy: nothing runs before the first lease";
  Lease lease = broker.acquire("srv");
  const auto servers = recorded_servers();
  ASSERT_EQ(servers.size(), 1u);
  const int pid = servers[0].pid;
  EXPECT_TRUE(process_group_alive(pid));
  GenerateRequest r;
  r.messages = {{"user", "hi"}};
  r.output =
      TypeSet().make("T", Json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})"));
  r.sampling.max_tokens = 32;
  GenerateResult g = generate_sync(lease.engine(), r);
  ASSERT_TRUE(g.ok()) << g.error;
  EXPECT_TRUE(r.output->validate(Json::parse(g.text)).empty()) << g.text;
  lease.release();  // keep_alive 0: stopped at once, on the lifecycle executor
  broker.settle();
  EXPECT_FALSE(process_group_alive(pid));
  EXPECT_TRUE(recorded_servers().empty());
}

TEST_F(ManagedServerTest, ServerKilledMidGenerationFailsAndTheNextLeaseStartsItAgain) {
  Broker broker;
  EngineConfig c = server_config("srv", test::model_path("local"));
  c.keep_alive = -1;
  broker.add(c);
  Lease lease = broker.acquire("srv");
  const int first_pid = recorded_servers().at(0).pid;
  GenerateRequest r;
  r.messages = {{"user", "go on"}};
  r.sampling.max_tokens = 900;
  r.sampling.ignore_eos = true;
  std::promise<GenerateResult> done;
  lease->submit(r, [&](GenerateResult g) { done.set_value(std::move(g)); });
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  ::kill(-first_pid, SIGKILL);  // the server dies under a request
  const GenerateResult failed = future.get();
  EXPECT_EQ(failed.finish, Finish::error);
  EXPECT_FALSE(failed.error.empty());
  lease.release();
  Lease again = broker.acquire("srv");  // marked dead, so started afresh
  const int second_pid = recorded_servers().at(0).pid;
  EXPECT_NE(second_pid, first_pid);
  r.sampling.max_tokens = 8;
  EXPECT_TRUE(generate_sync(again.engine(), r).ok());
}

TEST_F(ManagedServerTest, EarlyExitIsReportedWithTheLastLogLines) {
  const fs::path bogus = state_ / "not-a-model.gguf";
  fs::create_directories(state_);
  std::ofstream(bogus) << "this is not a GGUF file";
  Broker broker;
  broker.add(server_config("broken", bogus.string()));
  try {
    broker.acquire("broken");
    FAIL() << "expected EngineError";
  } catch (const EngineError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("exited during start-up"), std::string::npos) << msg;
    EXPECT_NE(msg.find("last lines of"), std::string::npos) << msg;
  }
  EXPECT_TRUE(recorded_servers().empty());
}

TEST_F(ManagedServerTest, KillMinus9OfSkeinLeavesNoServerBehindGrandchildrenIncluded) {
  // A skein process holding a managed server: `skein warmup` would stop it, so run a chain whose
  // engine is the server on many records, and SIGKILL skein once its server is up. The server's
  // command forks a grandchild first (as vLLM does): PR_SET_PDEATHSIG alone would leave it behind.
  const fs::path dir = state_ / "job";
  fs::create_directories(dir);
  const fs::path wrapper = dir / "llama-server-wrapper";
  std::ofstream(wrapper) << "#!/bin/sh\nsleep 1000 &\necho $! > " << (dir / "grandchild.pid").string() << "\nexec "
                         << SKEIN_LLAMA_SERVER << " \"$@\"\n";
  fs::permissions(wrapper, fs::perms::owner_all);
  std::ofstream(dir / "chain.yaml") << "chain: held\nengines:\n  srv:\n    backend: llama-server\n    model: "
                                    << test::model_path("local") << "\n    command: " << wrapper.string()
                                    << "\n    parallel: 1\n    context: 1024\n    args: [--no-jinja, -t, '1']\n"
                                       "types:\n  T: {type: object, properties: {n: {type: integer}}, required: [n]}\n"
                                       "batch_size: 1\nsteps:\n  - step: s\n    engine: srv\n    output: T\n"
                                       "    user: \"{{ chain_input.x }}\"\n    sampling: {max_tokens: 16}\n";
  {
    std::ofstream in(dir / "in.jsonl");
    for (int i = 0; i < 100000; ++i) in << "{\"x\": \"" << i << "\"}\n";
  }
  SpawnOptions o;
  o.argv = {std::string(SKEIN_BINARY_DIR) + "/skein",
            "run",
            (dir / "chain.yaml").string(),
            "-i",
            (dir / "in.jsonl").string(),
            "-o",
            (dir / "out").string(),
            "-q"};
  o.env = {{"SKEIN_STATE_DIR", state_.string()}};
  o.log_file = (dir / "skein.log").string();
  Subprocess skein_process = Subprocess::spawn(o);
  // Wait for the condition "the server is recorded and skein has written outputs through it".
  int server_pid = 0;
  while (server_pid == 0 || !fs::exists(dir / "out/s/000.jsonl") || fs::file_size(dir / "out/s/000.jsonl") == 0) {
    ASSERT_FALSE(skein_process.poll()) << tail_lines(o.log_file, 20);
    for (const auto& s : recorded_servers()) server_pid = s.pid;
    std::this_thread::yield();
  }
  ASSERT_TRUE(process_group_alive(server_pid));
  int grandchild = 0;
  std::ifstream(dir / "grandchild.pid") >> grandchild;
  ASSERT_GT(grandchild, 1);
  ASSERT_EQ(::kill(grandchild, 0), 0) << "the grandchild runs";
  ::kill(skein_process.pid(), SIGKILL);  // only skein itself; its server must follow by itself
  while (!skein_process.poll()) std::this_thread::yield();
  // The server (PR_SET_PDEATHSIG) and its grandchild (the watchdog) die as the kernel delivers the
  // signals: wait for the condition, bounded.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (process_group_alive(server_pid) && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_FALSE(process_group_alive(server_pid)) << "the server's group " << server_pid << " survived kill -9 of skein";
  std::ifstream stat("/proc/" + std::to_string(grandchild) + "/stat");
  std::string line;
  std::getline(stat, line);
  EXPECT_TRUE(line.empty() || line.find(") Z") != std::string::npos) << "grandchild left: " << line;
  // `skein kill --all` cleans the stale record.
  SpawnOptions k;
  k.argv = {std::string(SKEIN_BINARY_DIR) + "/skein", "kill", "--all"};
  k.env = {{"SKEIN_STATE_DIR", state_.string()}};
  Subprocess killer = Subprocess::spawn(k);
  while (!killer.poll()) std::this_thread::yield();
  EXPECT_TRUE(recorded_servers().empty());
}

TEST(ServerCommandTest, MapsFlagsAndGpuIds) {
  EngineConfig c = server_config("s", "/m.gguf");
  c.options["gpus"] = "0,1";
  c.options["env"] = {{"HF_HOME", "/cache"}};
  const ServerCommand cmd = server_command(c, 9000);
  const std::string argv = [&] {
    std::string s;
    for (const auto& a : cmd.argv) s += a + " ";
    return s;
  }();
  EXPECT_NE(argv.find("-m /m.gguf --host 127.0.0.1 --port 9000 -np 2 -c 2048 --no-jinja"), std::string::npos) << argv;
  EXPECT_EQ(cmd.env.at("CUDA_VISIBLE_DEVICES"), "0,1");
  EXPECT_EQ(cmd.env.at("HF_HOME"), "/cache");
  c.backend = "vllm";
  c.model = "Qwen/Qwen2.5-1.5B-Instruct";
  const ServerCommand v = server_command(c, 9001);
  EXPECT_EQ(v.argv[0], "vllm");
  EXPECT_EQ(v.argv[1], "serve");
  EXPECT_EQ(v.argv[2], "Qwen/Qwen2.5-1.5B-Instruct");
}

}  // namespace
}  // namespace skein
