// The in-process llama engine on the random-weight `local` fixture: validity, determinism,
// concurrency, stopping and cancellation. Its text is meaningless; only behaviour is asserted.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <future>
#include <thread>

#include "fixture.hpp"
#include "skein/engine.hpp"

namespace skein {
namespace {

GenerateRequest request(const std::string& user, uint32_t seed, int max_tokens = 32) {
  GenerateRequest r;
  r.messages = {{"system", "You are a test."}, {"user", user}};
  r.sampling.seed = seed;
  r.sampling.max_tokens = max_tokens;
  return r;
}

TypePtr object_type() {
  TypeSet types;
  return types.make("T", Json::parse(R"({"type":"object","properties":{"a":{"type":"integer"},
      "b":{"type":"string","maxLength":12}},"required":["a","b"]})"));
}

class LlamaEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { engine_ = make_llama_engine("local", test::local_options(4)).release(); }
  static void TearDownTestSuite() { delete engine_; }
  static Engine* engine_;
};
Engine* LlamaEngineTest::engine_ = nullptr;

TEST_F(LlamaEngineTest, GeneratesUpToMaxTokens) {
  auto req = request("hello", 1, 8);
  req.sampling.ignore_eos = true;
  GenerateResult r = generate_sync(*engine_, req);
  ASSERT_EQ(r.finish, Finish::length) << r.error;
  EXPECT_EQ(r.generated_tokens, 8);
  EXPECT_GT(r.prompt_tokens, 0);
  EXPECT_LE(r.queued_ns, r.started_ns);
  EXPECT_LE(r.started_ns, r.first_token_ns);
  EXPECT_LE(r.first_token_ns, r.finished_ns);
}

TEST_F(LlamaEngineTest, SameSeedSameOutput) {
  auto req = request("determinism", 7, 24);
  req.output = object_type();
  GenerateResult a = generate_sync(*engine_, req);
  GenerateResult b = generate_sync(*engine_, req);
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(a.text, b.text);
}

TEST_F(LlamaEngineTest, GrammarConstrainsOutputToType) {
  auto type = object_type();
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    auto req = request("give me json", seed, 64);
    req.output = type;
    GenerateResult r = generate_sync(*engine_, req);
    ASSERT_EQ(r.finish, Finish::stop) << r.error << " text=" << r.text;
    Json value = Json::parse(r.text);
    EXPECT_TRUE(type->validate(value).empty()) << r.text;
  }
}

TEST_F(LlamaEngineTest, StopStringEndsGeneration) {
  auto req = request("stop", 3, 64);
  req.output = object_type();
  req.sampling.stop = {"\"b\""};
  GenerateResult r = generate_sync(*engine_, req);
  ASSERT_EQ(r.finish, Finish::stop) << r.error;
  EXPECT_EQ(r.text.find("\"b\""), std::string::npos) << r.text;
}

TEST_F(LlamaEngineTest, SixteenConcurrentRequestsAllCompleteAndValidate) {
  auto type = object_type();
  std::vector<std::future<GenerateResult>> futures;
  for (uint32_t i = 0; i < 16; ++i) {
    auto promise = std::make_shared<std::promise<GenerateResult>>();
    futures.push_back(promise->get_future());
    auto req = request("request " + std::to_string(i), 100 + i, 64);
    req.output = type;
    engine_->submit(req, [promise](GenerateResult r) { promise->set_value(std::move(r)); });
  }
  for (auto& f : futures) {
    GenerateResult r = f.get();
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_TRUE(type->validate(Json::parse(r.text)).empty()) << r.text;
  }
}

TEST_F(LlamaEngineTest, CancelMidGenerationCompletesWithin100msAndFreesSlot) {
  // One compute thread: with two on a machine whose cores are busy (ctest -j2), ggml's threads wait
  // for each other at barriers and a decode step can take a scheduler quantum.
  LlamaOptions o = test::local_options(1);
  o.threads = 1;
  auto engine = make_llama_engine("one-slot", o);
  // Generation that never ends by itself (ignore_eos; max_tokens is clamped to the slot context).
  auto req = request("long", 5, 100000);
  req.sampling.ignore_eos = true;
  std::promise<void> tokens_flowing;
  std::atomic<int> seen{0};
  req.on_token = [&](const std::string&) {
    if (++seen == 5) tokens_flowing.set_value();
  };
  std::promise<GenerateResult> done;
  auto pending = engine->submit(req, [&](GenerateResult r) { done.set_value(std::move(r)); });
  tokens_flowing.get_future().wait();
  const int64_t cancel_at = now_ns();
  pending->cancel();
  GenerateResult r = done.get_future().get();
  EXPECT_EQ(r.finish, Finish::cancelled);
  EXPECT_GE(r.generated_tokens, 5);
  EXPECT_LT(r.finished_ns - cancel_at, 100'000'000) << "cancel took " << (r.finished_ns - cancel_at) / 1e6 << " ms";
  // The only slot serves the next request.
  GenerateResult next = generate_sync(*engine, request("next", 6, 4));
  EXPECT_TRUE(next.ok()) << next.error;
}

TEST_F(LlamaEngineTest, CancelWhileQueuedCompletesAsCancelled) {
  auto engine = make_llama_engine("queued", test::local_options(1));
  auto busy = request("busy", 1, 100000);
  busy.sampling.ignore_eos = true;
  std::promise<GenerateResult> busy_done, queued_done;
  auto busy_pending = engine->submit(busy, [&](GenerateResult r) { busy_done.set_value(std::move(r)); });
  auto queued_pending =
      engine->submit(request("q", 2, 8), [&](GenerateResult r) { queued_done.set_value(std::move(r)); });
  queued_pending->cancel();
  EXPECT_EQ(queued_done.get_future().get().finish, Finish::cancelled);
  busy_pending->cancel();
  EXPECT_EQ(busy_done.get_future().get().finish, Finish::cancelled);
}

TEST_F(LlamaEngineTest, AsioCancellationReachesTheEngine) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::cancellation_signal signal;
  std::optional<GenerateResult> got;
  auto req = request("asio", 9, 100000);
  req.sampling.ignore_eos = true;
  // Cancel from the loop once the first token has been generated.
  req.on_token = [&, once = std::make_shared<std::once_flag>()](const std::string&) {
    std::call_once(*once, [&] { asio::post(io, [&] { signal.emit(asio::cancellation_type::terminal); }); });
  };
  async_generate(
      *engine_, req,
      asio::bind_cancellation_slot(signal.slot(), asio::bind_executor(io, [&](GenerateResult r) { got = r; })));
  io.run();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->finish, Finish::cancelled);
}

// A decode step whose requests are all cancelled is given up part-way (llama.cpp's abort callback):
// a long prompt, prefilled in one step, cancelled once that step has started, ends without the
// step finishing; the engine's memory is as it was (the same request gives the same text after).
TEST(LlamaEngineAbandon, AStepWhoseRequestsAreAllCancelledIsGivenUpPartWayAndLeavesNothingBehind) {
  LlamaOptions o = test::local_options(1);
  o.context = o.batch = 4096;  // the whole prompt in one decode step (of 8 llama.cpp micro-batches)
  o.threads = 1;               // a long step (about 180 ms here): the cancel lands well within it
  auto engine = make_llama_engine("abandon", o);
  const GenerateRequest probe = request("probe", 11, 8);
  const GenerateResult before = generate_sync(*engine, probe);
  ASSERT_TRUE(before.ok()) << before.error;
  const auto steps = [&] { return engine->stats()["decode_steps"].get<long long>(); };
  std::string words;
  for (int i = 0; i < 1500; ++i) words += "river stone ";
  GenerateRequest long_prompt = request(words, 12, 1);
  const long long steps_before = steps();
  std::promise<GenerateResult> done;
  auto pending = engine->submit(long_prompt, [&](GenerateResult r) { done.set_value(std::move(r)); });
  while (steps() == steps_before) std::this_thread::yield();  // the prompt's step has started
  pending->cancel();
  const GenerateResult r = done.get_future().get();
  EXPECT_EQ(r.finish, Finish::cancelled);
  EXPECT_GT(r.prompt_tokens, 3000);
  EXPECT_EQ(engine->stats()["abandoned_decode_steps"], 1) << "the step ran to its end";
  EXPECT_EQ(steps(), steps_before + 1);
  const GenerateResult after = generate_sync(*engine, probe);
  ASSERT_TRUE(after.ok()) << after.error;
  EXPECT_EQ(after.text, before.text);
}

TEST(LlamaEngineLoad, MissingModelFileIsAnEngineErrorNamingTheEngine) {
  LlamaOptions o;
  o.model_path = "/nonexistent/model.gguf";
  try {
    make_llama_engine("ghost", o);
    FAIL() << "expected EngineError";
  } catch (const EngineError& e) {
    EXPECT_EQ(e.engine(), "ghost");
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.gguf"), std::string::npos);
  }
}

}  // namespace
}  // namespace skein
