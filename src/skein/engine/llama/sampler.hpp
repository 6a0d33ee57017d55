// A request's sampler in the llama engine.
//
// The sampling is llama.cpp's common_sampler's, for the samplers Skein uses (logit biases, top-k,
// top-p, temperature, then a draw with the request's seed): a token is drawn without the grammar,
// checked against it, and only when the grammar refuses it drawn again with the grammar applied to
// the whole vocabulary (greedy: the likeliest token the grammar allows). What differs is the
// grammar: a copy of one compiled per type, whose allowed tokens per state are computed once
// (grammar.hpp), so no request parses GBNF and most tokens check the grammar with one lookup.
#pragma once
#include <llama.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "grammar.hpp"
#include "skein/engine.hpp"

namespace skein::llama {

struct Model;

// Times spent in the grammar per generated token (the last 65,536), and how many tokens met a
// grammar state new to the engine, for Engine::stats(). Thread-safe.
class GrammarClock {
 public:
  void add(int64_t ns, bool new_state);
  Json quantiles() const;  // {"tokens", "mean_us" (all tokens), "p50_us", "p99_us", "new_states"}

 private:
  static constexpr size_t kKept = 65536;
  mutable std::mutex mu_;
  std::vector<int64_t> ns_;
  size_t next_ = 0;
  uint64_t count_ = 0, new_states_ = 0, total_ns_ = 0;
};

class Sampler {
 public:
  // `grammar` (null for none) is applied to every draw.
  Sampler(const GenerateRequest& req, const Model& model, std::unique_ptr<Grammar> grammar);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // The next token from the logits of batch row `idx`. Throws when the grammar allows none.
  llama_token sample(llama_context* ctx, int idx);
  // The token taken; the grammar's time for it (checking, resampling, advancing) goes to `clock`.
  void accept(llama_token token, GrammarClock& clock);

 private:
  void load_logits(llama_context* ctx, int idx);
  llama_token likeliest_allowed(llama_context* ctx, int idx);
  llama_token redraw(llama_context* ctx, int idx);
  float bias_of(llama_token t) const;
  static constexpr size_t kLikeliest = 64;
  bool greedy_ = false;
  std::vector<llama_logit_bias> bias_;
  TokenMask biased_;  // the tokens with a bias
  std::unique_ptr<Grammar> grammar_;
  llama_sampler* chain_;
  int n_vocab_;
  int64_t grammar_ns_ = 0;  // of the token being sampled
  bool new_state_ = false;  // its grammar state was new to the engine
  std::vector<llama_token_data> cur_;
  llama_token_data_array cur_p_{};
};

}  // namespace skein::llama
