// The llama engine's prefix cache on the random-weight `local` fixture: prompts that share a long
// prefix compute it once, and sharing never changes an output (greedy, token for token, with the
// cache on and off). Only behaviour is asserted; the text is meaningless.
#include <gtest/gtest.h>

#include <future>

#include "fixture.hpp"
#include "skein/engine.hpp"

namespace skein {
namespace {

// About 1,000 tokens of system prompt, the same for every request.
std::string shared_prompt() {
  std::string s = "You answer questions about a catalogue. Rules follow.\n";
  for (int i = 1; s.size() < 3600; ++i)
    s += "Rule " + std::to_string(i) + ": items numbered " + std::to_string(i * 7) + " are kept apart.\n";
  return s;
}

GenerateRequest greedy(const std::string& system, const std::string& user) {
  GenerateRequest r;
  r.messages = {{"system", system}, {"user", user}};
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 12;
  return r;
}

// Every request submitted at once; their results in order.
std::vector<GenerateResult> run_all(Engine& engine, const std::vector<GenerateRequest>& requests) {
  std::vector<std::future<GenerateResult>> futures;
  for (const auto& req : requests) {
    auto promise = std::make_shared<std::promise<GenerateResult>>();
    futures.push_back(promise->get_future());
    engine.submit(req, [promise](GenerateResult r) { promise->set_value(std::move(r)); });
  }
  std::vector<GenerateResult> out;
  for (auto& f : futures) out.push_back(f.get());
  return out;
}

std::unique_ptr<Engine> engine(int parallel, bool prefix_cache, int cells = 0) {
  LlamaOptions o = test::local_options(parallel);
  o.context = 1536;
  o.prefix_cache = prefix_cache;
  o.prefix_cache_cells = cells;
  return make_llama_engine(prefix_cache ? "cached" : "uncached", o);
}

class PrefixCacheTest : public ::testing::TestWithParam<int> {};

// 64 requests; 16 in sanitizer builds, where TSan range-checks every memcpy of llama.cpp's KV.
#ifdef SKEIN_SANITIZED
constexpr int kRequests = 16;
#else
constexpr int kRequests = 64;
#endif

TEST_P(PrefixCacheTest, SixtyFourRequestsSharingAThousandTokensGiveTheSameGreedyOutputsAndReuseThePrefix) {
  const std::string system = shared_prompt();
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < kRequests; ++i) requests.push_back(greedy(system, "Item " + std::to_string(i) + "?"));
  const auto off = run_all(*engine(GetParam(), false), requests);
  const auto on = run_all(*engine(GetParam(), true), requests);
  long long reused = 0;
  int shortest = 1 << 30;
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(off[i].ok()) << off[i].error;
    ASSERT_TRUE(on[i].ok()) << on[i].error;
    EXPECT_EQ(on[i].text, off[i].text) << "request " << i;
    EXPECT_EQ(on[i].generated_tokens, off[i].generated_tokens) << "request " << i;
    EXPECT_EQ(on[i].prompt_tokens, off[i].prompt_tokens);
    EXPECT_EQ(off[i].cached_prompt_tokens, 0);
    reused += on[i].cached_prompt_tokens;
    shortest = std::min(shortest, on[i].prompt_tokens);
  }
  ASSERT_GT(shortest, 1000);
  // The user part and the chat template's tail differ per request: at most 24 tokens.
  const long long shared = shortest - 24;
  EXPECT_GE(double(reused), 0.9 * double(shared) * (kRequests - 1)) << "reused " << reused << " of " << shared;
}

INSTANTIATE_TEST_SUITE_P(Parallel, PrefixCacheTest, ::testing::Values(1, 8),
                         [](const auto& p) { return "parallel" + std::to_string(p.param); });

TEST(PrefixCacheEvictionTest, ACacheSmallerThanTwoPromptsEvictsAndStillAnswersTheSame) {
  // Two system prompts taking turns, a cache that holds about one of them: entries are evicted
  // and taken again, and every output stays what it is without the cache.
  const std::string a = shared_prompt(), b = "Another catalogue.\n" + shared_prompt();
  std::vector<GenerateRequest> requests;
  const int turns = kRequests < 64 ? 6 : 12;  // sanitizer builds: fewer turns of 1,000-token prompts
  for (int i = 0; i < turns; ++i) requests.push_back(greedy(i % 2 ? b : a, "Item " + std::to_string(i) + "?"));
  auto cached = engine(2, true, 1100);
  std::vector<GenerateResult> on;
  for (const auto& req : requests) on.push_back(generate_sync(*cached, req));  // one at a time
  const auto off = run_all(*engine(2, false), requests);
  long long reused = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(on[i].ok()) << on[i].error;
    EXPECT_EQ(on[i].text, off[i].text) << "request " << i;
    reused += on[i].cached_prompt_tokens;
  }
  // `b` begins with other tokens than `a`: each turn finds the other prompt's entry, evicted or
  // sharing nothing, so only a little (the template's first tokens) is reused.
  EXPECT_LT(reused, turns * 64);
  // After all that eviction, the cache still serves a prompt asked twice in a row.
  const GenerateResult again = generate_sync(*cached, requests.back());
  EXPECT_EQ(again.cached_prompt_tokens, std::min(again.prompt_tokens - 1, 1100));  // what the cache holds of it
  EXPECT_EQ(again.text, off.back().text);
}

TEST(PrefixCacheEvictionTest, TheSamePromptAgainIsReusedUpToItsLastToken) {
  auto cached = engine(1, true);
  const GenerateRequest req = greedy(shared_prompt(), "Item 1?");
  const GenerateResult first = generate_sync(*cached, req);
  const GenerateResult again = generate_sync(*cached, req);
  ASSERT_TRUE(first.ok() && again.ok()) << first.error << again.error;
  EXPECT_EQ(first.cached_prompt_tokens, 0);
  EXPECT_EQ(again.cached_prompt_tokens, again.prompt_tokens - 1);  // the last one gives the logits
  EXPECT_EQ(again.text, first.text);
}

}  // namespace
}  // namespace skein
