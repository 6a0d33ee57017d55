// The llama engine's Sampler draws the tokens llama.cpp's common_sampler draws for the same
// request (greedy and seeded, under a JSON grammar), token for token, on the random-weight `local`
// fixture: its compiled-grammar copies, its allowed-token sets per grammar state and its greedy
// look-up among the likeliest tokens change the cost of sampling, not its result. And in every
// state of a JSON value (multi-byte characters included), a Grammar allows exactly the tokens
// llama.cpp's grammar sampler allows.
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
  // `text` cut into the longest pieces the vocabulary has (the tokenizer would add a space in
  // front); characters it has no token for come as byte tokens, one per UTF-8 byte.
  std::vector<llama_token> cut(const std::string& text) const {
    const int n_vocab = llama_vocab_n_tokens(model_.vocab);
    std::vector<llama_token> tokens;
    for (size_t at = 0; at < text.size();) {
      llama_token best = LLAMA_TOKEN_NULL;
      size_t best_size = 0;
      for (llama_token t = 0; t < n_vocab; ++t) {
        const std::string piece = common_token_to_piece(model_.vocab, t, true);
        if (piece.size() > best_size && text.compare(at, piece.size(), piece) == 0) best = t, best_size = piece.size();
      }
      if (best == LLAMA_TOKEN_NULL) throw std::runtime_error("no token for byte " + std::to_string(at) + " of " + text);
      tokens.push_back(best);
      at += best_size;
    }
    return tokens;
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
  // One grammar cache for every round: the third repeats the first, its grammar states all seen
  // (their allowed tokens looked up, not computed), and must still draw what common_sampler draws.
  GrammarCache grammars(model_.vocab);
  GrammarClock clock;
  const uint32_t seeds[] = {5, 6, 5};
  for (int round = 0; round < 3; ++round) {
    req.sampling.seed = seeds[round];
    SCOPED_TRACE("seed " + std::to_string(seeds[round]));
    const Json before = clock.quantiles();
    Sampler ours(req, model_, grammars.copy(req.output->grammar()));
    common_params_sampling params = common_params(req);
    std::unique_ptr<common_sampler, common_sampler_deleter> theirs(common_sampler_init(model_.model, params));
    ASSERT_TRUE(theirs);
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
    const uint64_t fresh = clock.quantiles().value("new_states", uint64_t(0)) - before.value("new_states", uint64_t(0));
    if (round == 0) EXPECT_GT(fresh, 0u);  // the first round computes its states
    if (round == 2) EXPECT_EQ(fresh, 0u);  // the repeat finds every one
  }
}

// Whether a piece begins or ends inside a multi-byte UTF-8 character.
bool splits_a_character(const std::string& piece) {
  int pending = 0;
  for (unsigned char c : piece) {
    if ((c & 0xC0) == 0x80) {
      if (pending-- <= 0) return true;  // a continuation with no lead byte in this piece
    } else {
      if (pending > 0) return true;
      pending = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    }
  }
  return pending > 0;
}

// The tokens llama.cpp's grammar sampler leaves allowed over the whole vocabulary.
std::vector<llama_token> allowed_by(llama_sampler* grammar, int n_vocab) {
  std::vector<llama_token_data> all(static_cast<size_t>(n_vocab));
  for (llama_token t = 0; t < n_vocab; ++t) all[size_t(t)] = {t, 0.0f, 0.0f};
  llama_token_data_array array{all.data(), all.size(), -1, false};
  llama_sampler_apply(grammar, &array);
  std::vector<llama_token> out;
  for (const auto& d : all)
    if (d.logit != -INFINITY) out.push_back(d.id);
  return out;
}

std::vector<llama_token> allowed_by(Grammar& grammar, int n_vocab) {
  const TokenMask& mask = grammar.allowed();
  std::vector<llama_token> out;
  for (llama_token t = 0; t < n_vocab; ++t)
    if (mask.allows(t)) out.push_back(t);
  return out;
}

TEST_F(SamplerTest, EveryStateOfAValueAllowsWhatLlamaCppsGrammarAllows) {
  const TypePtr type = TypeSet().make("R", Json::parse(R"({"type":"object","properties":{"name":{"type":"string"},
      "n":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"}}},"required":["name","n","tags"]})"));
  const std::string value = R"({"name": "Zoë 東京 🚀 \"q\"", "n": -42, "tags": ["a", "ß"]})";
  const int n_vocab = llama_vocab_n_tokens(model_.vocab);
  const std::vector<llama_token> tokens = cut(value);
  GrammarCache grammars(model_.vocab);
  for (int pass = 0; pass < 2; ++pass) {  // the second finds every state's tokens already computed
    SCOPED_TRACE("pass " + std::to_string(pass));
    std::unique_ptr<Grammar> ours = grammars.copy(type->grammar());
    llama_sampler* theirs = llama_sampler_init_grammar(model_.vocab, type->grammar().c_str(), "root");
    ASSERT_TRUE(ours && theirs);
    EXPECT_EQ(ours->known() != nullptr, pass == 1);
    int partial = 0;
    for (size_t i = 0; i <= tokens.size(); ++i) {
      const std::vector<llama_token> want = allowed_by(theirs, n_vocab);
      ASSERT_EQ(allowed_by(*ours, n_vocab), want) << "after " << i << " tokens";
      if (i == tokens.size()) break;
      ASSERT_TRUE(ours->allows(tokens[i])) << "token " << i;
      partial += splits_a_character(common_token_to_piece(model_.vocab, tokens[i], true));
      ours->accept(tokens[i]);
      llama_sampler_accept(theirs, tokens[i]);
    }
    llama_sampler_free(theirs);
    EXPECT_GT(partial, 0)
        << "no token ends or starts inside a character: the unfinished-character states went untested";
  }
  // A state is its stacks: inside the string after "a" and after "b" is one state, computed once.
  GrammarCache fresh(model_.vocab);
  std::unique_ptr<Grammar> after_a = fresh.copy(type->grammar()), after_b = fresh.copy(type->grammar());
  for (llama_token t : cut(R"({"name": "xa)")) after_a->accept(t);
  for (llama_token t : cut(R"({"name": "xb)")) after_b->accept(t);
  bool computed = false;
  after_a->allowed(&computed);
  EXPECT_TRUE(computed);
  EXPECT_TRUE(after_b->known());
}

INSTANTIATE_TEST_SUITE_P(Temperature, SamplerTest, ::testing::Values(0.0f, 0.8f),
                         [](const auto& p) { return p.param == 0 ? std::string("greedy") : std::string("seeded"); });

}  // namespace
}  // namespace skein::llama
