// Chains and graphs that name more engines than max_loaded, as a user runs them: through `skein run`
// with `openai` engines against a real llama-server (the one setup builds) and with `llama` engines
// on the random-weight fixture model; and the broker limits given on the command line.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fixture.hpp"
#include "llama_server.hpp"
#include "shell.hpp"
#include "skein/broker.hpp"
#include "skein/chain.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

using test::kSkein;
using test::Shell;
using test::shell;

class ManyEnginesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("skein-many-engines-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    setenv("SKEIN_STATE_DIR", (dir_ / "state").c_str(), 1);
    std::ofstream in(dir_ / "in.jsonl");
    for (int i = 0; i < 6; ++i) in << "{\"x\": " << i << "}\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A chain of `n` steps, step i on engine e<i>, each engine declared by `engine(i)`.
  fs::path chain_file(int n, const std::function<std::string(int)>& engine, const std::string& extra = "") {
    std::string yaml = "chain: many\n" + extra + "engines:\n";
    for (int i = 1; i <= n; ++i) yaml += "  e" + std::to_string(i) + ": {" + engine(i) + "}\n";
    yaml += "types:\n  N: {type: object, properties: {n: {type: integer, minimum: 0, maximum: 9}}, required: [n]}\n";
    yaml += "batch_size: 3\nsteps:\n";
    for (int i = 1; i <= n; ++i)
      yaml += "  - step: s" + std::to_string(i) + "\n    engine: e" + std::to_string(i) +
              "\n    output: N\n    user: \"{{ chain_input.x }}\"\n    sampling: {max_tokens: 24, seed: 1}\n";
    std::ofstream(dir_ / "chain.yaml") << yaml;
    return dir_ / "chain.yaml";
  }

  // A graph whose start node leads through `n` nodes, node i on engine e<i> (the first on the
  // graph's default engine e1).
  fs::path graph_file(int n, const std::function<std::string(int)>& engine, const std::string& extra = "") {
    std::string yaml = "graph: many\nstart: N0\nengine: e1\n" + extra + "engines:\n";
    for (int i = 1; i <= n; ++i) yaml += "  e" + std::to_string(i) + ": {" + engine(i) + "}\n";
    yaml += "nodes:\n  N0: {fields: {q: {type: string}}, next: [N1]}\n";
    for (int i = 1; i <= n; ++i)
      yaml += "  N" + std::to_string(i) + ": {" + (i > 1 ? "engine: e" + std::to_string(i) + ", " : "") +
              "fields: {ok: {type: boolean}}, next: [" + (i < n ? "N" + std::to_string(i + 1) : "end") + "]}\n";
    std::ofstream(dir_ / "graph.yaml") << yaml;
    return dir_ / "graph.yaml";
  }

  std::string llama_engine(int) const {
    return "backend: llama, model: " + test::model_path("local") + ", context: 1024";
  }

  fs::path dir_;
};

TEST_F(ManyEnginesTest, AFourStepChainOnFourOpenAIEnginesAgainstLlamaServerCompletes) {
  test::LlamaServer server(4);
  const fs::path file =
      chain_file(4, [&](int) { return "backend: openai, endpoint: \"" + server.endpoint() + "\", model: m"; });
  const Shell r = shell(kSkein + " run " + file.string() + " -i " + (dir_ / "in.jsonl").string() + " -o " +
                        (dir_ / "out").string() + " -q --no-cache");
  EXPECT_EQ(r.status, 0) << r.out;
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(fs::exists(dir_ / "out" / ("s" + std::to_string(i)) / "000.jsonl")) << r.out;
}

TEST_F(ManyEnginesTest, AFiveNodeGraphOnFourOpenAIEnginesAgainstLlamaServerCompletes) {
  test::LlamaServer server(4);
  const fs::path file =
      graph_file(4, [&](int) { return "backend: openai, endpoint: \"" + server.endpoint() + "\", model: m"; });
  const Shell r = shell(kSkein + " run " + file.string() + " --input '{\"q\": \"hi\"}' -q");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("terminal: N4"), std::string::npos) << r.out;
}

TEST_F(ManyEnginesTest, AGraphOnFiveLlamaEnginesWithMaxLoadedTwoCompletesThroughSkeinRun) {
  const fs::path file = graph_file(5, [&](int i) { return llama_engine(i); });
  const Shell r = shell(kSkein + " run " + file.string() + " --input '{\"q\": \"hi\"}' -q --max-loaded 2");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("terminal: N5"), std::string::npos) << r.out;
}

TEST_F(ManyEnginesTest, AChainOnFiveLlamaEnginesWithMaxLoadedTwoEvictsButNeverALeasedEngine) {
  const Chain chain = load_chain(chain_file(5, [&](int i) { return llama_engine(i); }).string());
  BrokerOptions o;
  o.max_loaded = 2;
  std::mutex mu;  // before the broker: its destructor's events are heard too
  std::vector<EngineEvent> events;
  Broker broker(o);
  broker.on_event([&](const EngineEvent& e) {
    std::lock_guard l(mu);
    events.push_back(e);
  });
  RunOptions ro;
  ro.input_path = (dir_ / "in.jsonl").string();
  ro.output_dir = (dir_ / "out").string();
  ro.broker = &broker;
  const RunSummary s = run_chain(chain, ro);
  EXPECT_EQ(s.status, ChainStatus::done);
  EXPECT_EQ(s.records_in, 6u);
  EXPECT_EQ(s.records_out + s.errors, 6u);
  broker.flush(true);
  broker.settle();
  std::lock_guard l(mu);
  // Listeners hear events from several lifecycle threads: order them by when they happened (a stop
  // is stamped before the start it makes room for; on a tie, the stop first).
  auto frees = [](const EngineEvent& e) {
    return e.kind == EngineEventKind::evicted || e.kind == EngineEventKind::released;
  };
  std::stable_sort(events.begin(), events.end(), [&](const EngineEvent& a, const EngineEvent& b) {
    return a.at != b.at ? a.at < b.at : frees(a) && !frees(b);
  });
  int evicted = 0, loaded = 0, most = 0;
  for (const auto& e : events) {  // at most two loaded at any time
    if (e.kind == EngineEventKind::starting) most = std::max(most, ++loaded);
    if (e.kind == EngineEventKind::evicted || e.kind == EngineEventKind::released) --loaded;
    evicted += e.kind == EngineEventKind::evicted;
  }
  EXPECT_GT(evicted, 0);
  EXPECT_LE(most, 2);
}

TEST_F(ManyEnginesTest, BrokerLimitsOnTheCommandLineAndInTheFileReachTheBroker) {
  const fs::path file = chain_file(1, [&](int i) { return llama_engine(i); });
  Shell r = shell(kSkein + " run " + file.string() + " -i " + (dir_ / "in.jsonl").string() + " -o " +
                  (dir_ / "out").string() + " -q --no-cache --memory-budget 1KiB");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("more than the whole memory budget of 1024"), std::string::npos) << r.out;
  const fs::path limited = chain_file(
      1, [&](int i) { return llama_engine(i); }, "broker: {memory_budget: 2KiB}\n");
  r = shell(kSkein + " run " + limited.string() + " -i " + (dir_ / "in.jsonl").string() + " -o " +
            (dir_ / "out2").string() + " -q --no-cache");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("more than the whole memory budget of 2048"), std::string::npos) << r.out;
  r = shell(kSkein + " run " + limited.string() + " -i " + (dir_ / "in.jsonl").string() + " -o " +
            (dir_ / "out3").string() + " -q --no-cache --memory-budget 1GiB");  // the command line wins
  EXPECT_EQ(r.status, 0) << r.out;
}

}  // namespace
}  // namespace skein
