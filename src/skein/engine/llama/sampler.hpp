// A request's sampler in the llama engine, and the compiled grammars it starts from.
//
// The sampling is llama.cpp's common_sampler's, for the samplers Skein uses (logit biases, top-k,
// top-p, temperature, then a draw with the request's seed): a token is drawn without the grammar,
// checked against it alone, and only when the grammar refuses it drawn again with the grammar
// applied to the whole vocabulary (greedy: the likeliest tokens checked one by one first, which
// finds the same token, as the most likely one the grammar takes). What differs is the grammar: a copy of one compiled
// per type (GrammarCache), so no request parses GBNF.
#pragma once
#include <llama.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "skein/engine.hpp"

namespace skein::llama {

struct Model;

// Times spent in the grammar per generated token (the last 65,536), for Engine::stats().
// Thread-safe.
class GrammarClock {
 public:
  void add(int64_t ns);
  Json quantiles() const;  // {"tokens", "p50_us", "p99_us"}

 private:
  static constexpr size_t kKept = 65536;
  mutable std::mutex mu_;
  std::vector<int64_t> ns_;
  size_t next_ = 0;
  uint64_t count_ = 0;
};

class Sampler {
 public:
  // `grammar` (owned; null for none) is applied to every draw.
  Sampler(const GenerateRequest& req, const Model& model, llama_sampler* grammar);
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
  static constexpr size_t kLikeliest = 64;
  bool greedy_ = false;
  std::vector<llama_logit_bias> bias_;
  llama_sampler* grammar_;
  llama_sampler* chain_;
  int n_vocab_;
  int64_t grammar_ns_ = 0;  // of the token being sampled
  std::vector<llama_token_data> cur_;
  llama_token_data_array cur_p_{};
};

// Compiled grammars by GBNF text, the most recently used 64 kept; copy() hands out a fresh copy
// (llama_sampler_clone: rules and stacks copied, nothing parsed). One thread only (the engine's
// prepare thread).
class GrammarCache {
 public:
  explicit GrammarCache(const llama_vocab* vocab) : vocab_(vocab) {}
  ~GrammarCache();
  // A copy of `gbnf` compiled; null when llama.cpp refuses the grammar.
  llama_sampler* copy(const std::string& gbnf);

 private:
  static constexpr size_t kKept = 64;
  const llama_vocab* vocab_;
  std::list<std::pair<std::string, llama_sampler*>> lru_;  // most recent first
  std::unordered_map<std::string, decltype(lru_)::iterator> by_text_;
};

}  // namespace skein::llama
