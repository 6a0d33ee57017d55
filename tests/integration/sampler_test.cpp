// The llama engine's Sampler draws the tokens llama.cpp's common_sampler draws for the same
// request (greedy and seeded, under a JSON grammar), token for token, on the random-weight `local`
// fixture: its compiled-grammar copies and its greedy look-up among the likeliest tokens change the
// cost of sampling, not its result.
#include <gtest/gtest.h>

#include <common.h>
#include <sampling.h>

#include <cmath>

#include "engine/llama/model.hpp"
#include "engine/llama/sampler.hpp"
#include "fixture.hpp"

namespace skein::llama {
namespace {

// The parameters the engine gave common_sampler before it had its own sampler.
common_params_sampling common_params(const GenerateRequest& req) {
  common_params_sampling p;
  const Sampling& s = req.sampling;
  p.temp = s.temperature;
  p.top_k = s.top_k;
  p.top_p = s.top_p;
  p.min_p = 0.0f;
  p.seed = s.seed ? *s.seed : LLAMA_DEFAULT_SEED;
  p.samplers.clear();
  if (s.temperature <= 0) {
    p.top_k = 1;
    p.samplers.push_back(COMMON_SAMPLER_TYPE_TOP_K);
  } else {
    if (s.top_k > 0) p.samplers.push_back(COMMON_SAMPLER_TYPE_TOP_K);
    if (s.top_p < 1.0f) p.samplers.push_back(COMMON_SAMPLER_TYPE_TOP_P);
    p.samplers.push_back(COMMON_SAMPLER_TYPE_TEMPERATURE);
  }
  p.no_perf = true;
  if (req.output) p.grammar = common_grammar(COMMON_GRAMMAR_TYPE_USER, req.output->grammar());
  return p;
}

class SamplerTest : public ::testing::TestWithParam<float> {
 protected:
  void SetUp() override {
    model_ = load_model("local", test::model_path("local"));
    llama_context_params p = llama_context_default_params();
    p.n_ctx = 1024;
    p.n_batch = 512;
    p.no_perf = true;
    ctx_ = llama_init_from_model(model_.model, p);
    ASSERT_NE(ctx_, nullptr);
  }
  void TearDown() override {
    llama_free(ctx_);
    free_model(model_);
  }
  Model model_;
  llama_context* ctx_ = nullptr;
};

TEST_P(SamplerTest, DrawsWhatCommonSamplerDrawsTokenForToken) {
  GenerateRequest req;
  req.messages = {{"user", "Give me a record."}};
  req.output = TypeSet().make("R", Json::parse(R"({"type":"object","properties":{"name":{"type":"string",
      "maxLength":12},"n":{"type":"integer","minimum":0,"maximum":500},"tags":{"type":"array","items":{"enum":
      ["a","b"]},"maxItems":3}},"required":["name","n","tags"]})"));
  req.sampling.temperature = GetParam();
  req.sampling.top_k = 40;
  req.sampling.top_p = 0.9f;
  req.sampling.seed = 5;
  for (int round = 0; round < 2; ++round, ++*req.sampling.seed) {
    SCOPED_TRACE("seed " + std::to_string(*req.sampling.seed));
    GrammarCache grammars(model_.vocab);
    Sampler ours(req, model_, grammars.copy(req.output->grammar()));
    common_params_sampling params = common_params(req);
    std::unique_ptr<common_sampler, common_sampler_deleter> theirs(common_sampler_init(model_.model, params));
    ASSERT_TRUE(theirs);
    GrammarClock clock;
    llama_memory_clear(llama_get_memory(ctx_), true);
    std::vector<llama_token> prompt = common_tokenize(model_.vocab, model_.format(req.messages), true, true);
    llama_batch batch = llama_batch_get_one(prompt.data(), int32_t(prompt.size()));
    ASSERT_EQ(llama_decode(ctx_, batch), 0);
    int generated = 0;
    for (; generated < 64; ++generated) {
      const llama_token a = ours.sample(ctx_, -1);
      const llama_token b = common_sampler_sample(theirs.get(), ctx_, -1);
      ASSERT_EQ(a, b) << "token " << generated;
      ours.accept(a, clock);
      common_sampler_accept(theirs.get(), b, true);
      if (llama_vocab_is_eog(model_.vocab, a)) break;
      llama_token next = a;
      batch = llama_batch_get_one(&next, 1);
      ASSERT_EQ(llama_decode(ctx_, batch), 0);
    }
    EXPECT_GT(generated, 3);
  }
}

INSTANTIATE_TEST_SUITE_P(Temperature, SamplerTest, ::testing::Values(0.0f, 0.8f),
                         [](const auto& p) { return p.param == 0 ? std::string("greedy") : std::string("seeded"); });

}  // namespace
}  // namespace skein::llama
