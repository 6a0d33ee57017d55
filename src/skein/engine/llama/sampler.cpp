#include "sampler.hpp"

#include <algorithm>
#include <cmath>

#include "model.hpp"

namespace skein::llama {

void GrammarClock::add(int64_t ns) {
  std::lock_guard l(mu_);
  if (ns_.size() < kKept)
    ns_.push_back(ns);
  else
    ns_[next_] = ns;
  next_ = (next_ + 1) % kKept;
  ++count_;
}

Json GrammarClock::quantiles() const {
  std::vector<int64_t> ns;
  uint64_t count = 0;
  {
    std::lock_guard l(mu_);
    ns = ns_;
    count = count_;
  }
  if (ns.empty()) return {{"tokens", 0}};
  auto at = [&](double q) {
    auto it = ns.begin() + int64_t(q * double(ns.size() - 1));
    std::nth_element(ns.begin(), it, ns.end());
    return double(*it) / 1e3;
  };
  return {{"tokens", count}, {"p50_us", at(0.5)}, {"p99_us", at(0.99)}};
}

Sampler::Sampler(const GenerateRequest& req, const Model& model, llama_sampler* grammar)
    : grammar_(grammar), n_vocab_(llama_vocab_n_tokens(model.vocab)) {
  const Sampling& s = req.sampling;
  llama_sampler_chain_params cp = llama_sampler_chain_default_params();
  cp.no_perf = true;
  chain_ = llama_sampler_chain_init(cp);
  std::vector<llama_logit_bias>& bias = bias_;
  if (s.ignore_eos && !req.output)  // under a grammar, the end of the value must stay reachable
    for (llama_token t : model.eog) bias.push_back({t, -INFINITY});
  int32_t n_suppress = 0;
  const llama_token* suppress = llama_vocab_get_suppress_tokens(model.vocab, &n_suppress);
  for (int32_t i = 0; i < n_suppress; ++i) bias.push_back({suppress[i], -INFINITY});
  if (!bias.empty())
    llama_sampler_chain_add(chain_, llama_sampler_init_logit_bias(n_vocab_, int32_t(bias.size()), bias.data()));
  // Only the samplers this request uses: each one is a pass over the whole vocabulary per token.
  greedy_ = s.temperature <= 0;
  if (greedy_) {
    llama_sampler_chain_add(chain_, llama_sampler_init_top_k(1));  // greedy: one O(n) selection
  } else {
    if (s.top_k > 0) llama_sampler_chain_add(chain_, llama_sampler_init_top_k(s.top_k));
    if (s.top_p < 1.0f) llama_sampler_chain_add(chain_, llama_sampler_init_top_p(s.top_p, 0));
    llama_sampler_chain_add(chain_, llama_sampler_init_temp_ext(s.temperature, 0.0f, 1.0f));
  }
  llama_sampler_chain_add(chain_, llama_sampler_init_dist(s.seed ? *s.seed : LLAMA_DEFAULT_SEED));
}

Sampler::~Sampler() {
  llama_sampler_free(chain_);
  if (grammar_) llama_sampler_free(grammar_);
}

void Sampler::load_logits(llama_context* ctx, int idx) {
  const float* logits = llama_get_logits_ith(ctx, idx);
  cur_.resize(size_t(n_vocab_));
  for (llama_token t = 0; t < n_vocab_; ++t) cur_[size_t(t)] = llama_token_data{t, logits[t], 0.0f};
  cur_p_ = {cur_.data(), cur_.size(), -1, false};
}

llama_token Sampler::sample(llama_context* ctx, int idx) {
  llama_synchronize(ctx);
  load_logits(ctx, idx);
  llama_sampler_apply(chain_, &cur_p_);
  const llama_token drawn = cur_p_.data[cur_p_.selected].id;
  if (!grammar_) return drawn;
  const int64_t t0 = now_ns();
  llama_token_data one{drawn, 1.0f, 0.0f};
  llama_token_data_array one_p{&one, 1, -1, false};
  llama_sampler_apply(grammar_, &one_p);
  if (one.logit != -INFINITY) {
    grammar_ns_ = now_ns() - t0;
    return drawn;
  }
  // Refused. Greedy: the most likely token the grammar takes, looked for among the likeliest first.
  if (greedy_) {
    const llama_token best = likeliest_allowed(ctx, idx);
    grammar_ns_ = now_ns() - t0;
    if (best != LLAMA_TOKEN_NULL) return best;
  }
  // Drawn again, the grammar applied to the whole vocabulary first.
  load_logits(ctx, idx);
  llama_sampler_apply(grammar_, &cur_p_);
  grammar_ns_ = now_ns() - t0;
  llama_sampler_apply(chain_, &cur_p_);
  if (cur_p_.selected < 0) throw std::runtime_error("no token fits the grammar");
  return cur_p_.data[cur_p_.selected].id;
}

// The token of highest logit (biases applied) among those the grammar takes, if one is among the
// kLikeliest highest: what applying the grammar to the whole vocabulary and then taking the
// maximum gives, for a fraction of the grammar's work.
llama_token Sampler::likeliest_allowed(llama_context* ctx, int idx) {
  load_logits(ctx, idx);
  for (const auto& b : bias_) cur_[size_t(b.token)].logit += b.bias;
  const size_t k = std::min(kLikeliest, cur_.size());
  std::partial_sort(cur_.begin(), cur_.begin() + int64_t(k), cur_.end(),
                    [](const llama_token_data& a, const llama_token_data& b) { return a.logit > b.logit; });
  for (size_t i = 0; i < k && cur_[i].logit != -INFINITY; ++i) {
    llama_token_data one{cur_[i].id, 1.0f, 0.0f};
    llama_token_data_array one_p{&one, 1, -1, false};
    llama_sampler_apply(grammar_, &one_p);
    if (one.logit != -INFINITY) return cur_[i].id;
  }
  return LLAMA_TOKEN_NULL;
}

void Sampler::accept(llama_token token, GrammarClock& clock) {
  if (grammar_) {
    const int64_t t0 = now_ns();
    llama_sampler_accept(grammar_, token);
    clock.add(grammar_ns_ + now_ns() - t0);
  }
  llama_sampler_accept(chain_, token);
}

GrammarCache::~GrammarCache() {
  for (auto& [text, proto] : lru_) llama_sampler_free(proto);
}

llama_sampler* GrammarCache::copy(const std::string& gbnf) {
  if (auto it = by_text_.find(gbnf); it != by_text_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return llama_sampler_clone(it->second->second);
  }
  llama_sampler* proto = llama_sampler_init_grammar(vocab_, gbnf.c_str(), "root");
  if (!proto) return nullptr;
  lru_.emplace_front(gbnf, proto);
  by_text_[gbnf] = lru_.begin();
  if (lru_.size() > kKept) {
    llama_sampler_free(lru_.back().second);
    by_text_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return llama_sampler_clone(proto);
}

}  // namespace skein::llama
