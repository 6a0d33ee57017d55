// The run registry over the random-weight `local` model: a run cancelled in the middle of a long
// generation is CANCELLED within 100 ms and the engine's only slot is free again.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/cli/cli_engine.hpp"
#include "engine/process/subprocess.hpp"
#include "fixture.hpp"
#include "scratch.hpp"
#include "skein/chain.hpp"
#include "skein/graph_lm.hpp"
#include "skein/llama_engine.hpp"
#include "skein/run_registry.hpp"

namespace skein {
namespace {

using namespace std::chrono_literals;

// Passes requests through, noting when each generated token arrives and signalling the third.
class TokenSpy : public Engine {
 public:
  explicit TokenSpy(Engine& inner) : inner_(inner) {}
  const std::string& name() const override { return inner_.name(); }
  std::shared_ptr<PendingRequest> submit(GenerateRequest r, std::function<void(GenerateResult)> done) override {
    r.on_token = [this](const std::string&) {
      std::lock_guard lock(mu_);
      times_.push_back(now_ns());
      if (times_.size() == 3) third_.set_value();
    };
    return inner_.submit(std::move(r), std::move(done));
  }
  std::future<void> third_token() { return third_.get_future(); }
  // The longest time between two tokens so far: one decode step and its sampling.
  double longest_step_ms() {
    std::lock_guard lock(mu_);
    int64_t longest = 0;
    for (size_t i = 1; i < times_.size(); ++i) longest = std::max(longest, times_[i] - times_[i - 1]);
    return double(longest) / 1e6;
  }

 private:
  Engine& inner_;
  std::mutex mu_;
  std::vector<int64_t> times_;
  std::promise<void> third_;
};

// Submits a run of Topic -> Essay, whose one field `text` (of type `text_type`) the model writes.
std::string submit_essay(RunRegistry& registry, GraphLM& lm, const std::string& text_type) {
  GraphJob job;
  job.graph =
      std::make_shared<Graph>(parse_graph("graph: essay\nstart: Topic\nnodes:\n"
                                          "  Topic: {fields: {topic: {type: string}}, next: [Essay]}\n"
                                          "  Essay: {fields: {text: " +
                                              text_type + "}, next: [end]}\n",
                                          "/g/essay.yaml"));
  job.input = {{"topic", "rivers"}};
  job.lm = &lm;
  return registry.submit(std::move(job));
}

TEST(RegistryEngineTest, CancelInTheMiddleOfAGenerationEndsTheRunWithin100msAndFreesTheSlot) {
  // One compute thread: with two on a machine whose cores are busy, ggml's threads wait for each
  // other at every operation's barrier, each wait up to a scheduler quantum.
  LlamaOptions o = test::local_options(1);
  o.threads = 1;
  auto engine = make_llama_engine("local", o);
  TokenSpy spy(*engine);
  Sampling s;
  s.seed = 3;
  s.max_tokens = 100000;
  EngineLM lm([&](const std::string&) -> Engine& { return spy; }, "local", s);
  RunRegistry registry;
  const std::string id = submit_essay(registry, lm, "{type: string, minLength: 600}");
  auto third = spy.third_token();
  ASSERT_EQ(third.wait_for(60s), std::future_status::ready)
      << to_string(registry.get(id)->state) << " " << registry.get(id)->error;
  const int64_t t0 = now_ns();
  ASSERT_TRUE(registry.cancel(id));
  ASSERT_TRUE(registry.wait_until(
      id, [](const RunSnapshot& r) { return is_finished(r.state); }, 10s));
  const double ms = double(now_ns() - t0) / 1e6;
  const double step_ms = spy.longest_step_ms();
  const RunSnapshot run = *registry.get(id);
  EXPECT_EQ(run.state, RunState::cancelled) << run.error;
  std::cout << "cancel to CANCELLED: " << ms << " ms (longest decode step seen: " << step_ms << " ms)\n";
#ifdef SKEIN_SANITIZED
  // A cancel gives up the decode step under way between two of its operations. Sanitized code is
  // several times slower, and under TSan every copy of llama.cpp's KV cache is range-checked: a
  // step takes 100s of ms, 1.6 s was seen on a loaded CI machine. So the bound here stays the
  // step's. The 100 ms bound is for the real build.
  EXPECT_LT(ms, std::max(1000.0, 2 * step_ms + 100.0));
#else
  EXPECT_LT(ms, 100.0);
#endif
  EXPECT_EQ(run.trace.size(), 1u);  // the Topic node; Essay never finished
  // The engine has one slot: a new request is served, so the cancelled one let it go.
  GenerateRequest next;
  next.messages = {{"user", "hello"}};
  next.sampling.max_tokens = 4;
  EXPECT_TRUE(generate_sync(*engine, next).ok());
}

// A graph run whose node's engine is a `cli` command that never ends: cancelling the run kills the
// command's whole process group (the command and the sleep it started in the background).
TEST(RegistryEngineTest, CancellingARunWhoseCliEngineRunsForeverLeavesNoProcessOfItsGroup) {
  const auto pidfile = std::filesystem::temp_directory_path() / ("skein-registry-cli-" + std::to_string(::getpid()));
  std::filesystem::remove(pidfile);
  CliOptions o;
  o.command = {"sh", "-c", "sleep 1000 & echo $$ > " + pidfile.string() + "; sleep 1000; wait"};
  auto engine = make_cli_engine("forever", o);
  EngineLM lm([&](const std::string&) -> Engine& { return *engine; }, "forever");
  RunRegistry registry;
  const std::string id = submit_essay(registry, lm, "{type: string}");
  pid_t group = 0;  // the condition "the command runs": it has written its pid (= its group)
  while (group <= 1 && !is_finished(registry.get(id)->state)) {
    std::ifstream in(pidfile);
    in >> group;
    std::this_thread::yield();
  }
  ASSERT_GT(group, 1) << registry.get(id)->error;
  ASSERT_TRUE(process_group_alive(group));
  ASSERT_TRUE(registry.cancel(id));
  ASSERT_TRUE(registry.wait_until(
      id, [](const RunSnapshot& r) { return is_finished(r.state); }, 10s));
  EXPECT_EQ(registry.get(id)->state, RunState::cancelled);
  EXPECT_FALSE(process_group_alive(group)) << "a process of group " << group << " survived the cancel";
  std::filesystem::remove(pidfile);
}

// A chain run in the registry, cancelled while its engine generates: CANCELLED at once, its folder
// says "cancelled", and --resume then finishes it with every record.
// Essays in the chain run below (batches of 2), and the bound on its cancel. An essay is at least
// 600 characters: 150+ decode steps, which take 100s of ms each under TSan on a loaded machine, so
// even the sanitized bound proves the cancel did not wait for the batch to finish.
constexpr int kEssays = 6;
#ifdef SKEIN_SANITIZED
constexpr double kChainCancelMs = 5000;
#else
constexpr double kChainCancelMs = 1000;
#endif

TEST(RegistryEngineTest, ACancelledChainRunStopsMidGenerationAndResumes) {
  setenv("SKEIN_LOCAL_MODEL", test::model_path("local").c_str(), 1);
  const auto dir = test::scratch_root() / "registry_chain";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream in(dir / "in.jsonl");
    for (int i = 0; i < kEssays; ++i) in << "{\"topic\": \"topic " << i << "\"}\n";
  }
  auto chain = std::make_shared<Chain>(parse_chain(R"(chain: essays
batch_size: 2
steps:
  - step: essay
    output: {type: object, properties: {text: {type: string, minLength: 600}}, required: [text]}
    user: "Write about {{ chain_input.topic }}"
    sampling: {max_tokens: 2000, seed: 1}
)",
                                                   (dir / "chain.yaml").string()));
  RunRegistry registry;
  ChainJob job;
  job.chain = chain;
  job.options.input_path = (dir / "in.jsonl").string();
  job.options.output_dir = (dir / "out").string();
  const std::string id = registry.submit(job);
  EXPECT_EQ(id, "c1");
  // Cancel once the first batch has been written and the second is being generated.
  ASSERT_TRUE(registry.wait_until(
      id,
      [](const RunSnapshot& r) {
        return (r.progress.is_object() && r.progress.value("records_out", 0) >= 2) || is_finished(r.state);
      },
      120s));
  const int64_t t0 = now_ns();
  ASSERT_TRUE(registry.cancel(id));
  ASSERT_TRUE(registry.wait_until(
      id, [](const RunSnapshot& r) { return is_finished(r.state); }, 60s));
  const double ms = double(now_ns() - t0) / 1e6;
  std::cout << "chain cancel to CANCELLED: " << ms << " ms\n";
  EXPECT_EQ(registry.get(id)->state, RunState::cancelled) << registry.get(id)->error;
  EXPECT_LT(ms, kChainCancelMs);
  const Json run = Json::parse(std::ifstream(dir / "out/run.json"));
  EXPECT_EQ(run["status"], "cancelled");
  job.options.resume = true;
  const std::string again = registry.submit(job);
  ASSERT_TRUE(registry.wait_until(
      again, [](const RunSnapshot& r) { return is_finished(r.state); }, 300s));
  EXPECT_EQ(registry.get(again)->state, RunState::done) << registry.get(again)->error;
  const Json done = Json::parse(std::ifstream(dir / "out/run.json"));
  EXPECT_EQ(done["status"], "done");
  EXPECT_EQ(done["counts"]["records_in"], kEssays);
}

}  // namespace
}  // namespace skein
