#include "sampler.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "model.hpp"

namespace skein::llama {

void GrammarClock::add(int64_t ns, bool new_state) {
  std::lock_guard l(mu_);
  new_states_ += new_state;
  total_ns_ += ns;
  if (ns_.size() < kKept)
    ns_.push_back(ns);
  else
    ns_[next_] = ns;
  next_ = (next_ + 1) % kKept;
  ++count_;
}

Json GrammarClock::quantiles() const {
  std::vector<int64_t> ns;
  uint64_t count = 0, new_states = 0, total_ns = 0;
  {
    std::lock_guard l(mu_);
    ns = ns_;
    count = count_;
    new_states = new_states_;
    total_ns = total_ns_;
  }
  if (ns.empty()) return {{"tokens", 0}};
  auto at = [&](double q) {
    auto it = ns.begin() + int64_t(q * double(ns.size() - 1));
    std::nth_element(ns.begin(), it, ns.end());
    return double(*it) / 1e3;
  };
  return {{"tokens", count},
          {"mean_us", double(total_ns) / double(count) / 1e3},
          {"p50_us", at(0.5)},
          {"p99_us", at(0.99)},
          {"new_states", new_states}};
}

Sampler::Sampler(const GenerateRequest& req, const Model& model, std::unique_ptr<Grammar> grammar)
    : grammar_(std::move(grammar)), n_vocab_(llama_vocab_n_tokens(model.vocab)) {
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
  biased_ = TokenMask(size_t(n_vocab_));
  for (const auto& b : bias) biased_.allow(b.token);
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

Sampler::~Sampler() { llama_sampler_free(chain_); }

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
  new_state_ = false;
  llama_token token = drawn;
  if (!grammar_->allows(drawn)) {
    // Refused: greedy takes the likeliest token allowed; a draw is made again over those allowed.
    token = greedy_ ? likeliest_allowed(ctx, idx) : redraw(ctx, idx);
  }
  grammar_ns_ = now_ns() - t0;
  if (token == LLAMA_TOKEN_NULL) throw std::runtime_error("no token fits the grammar");
  return token;
}

// The token of highest logit (biases applied) among those the grammar allows: what applying the
// grammar to the whole vocabulary and then taking the maximum gives. In a state no copy of the
// grammar has met, the kLikeliest highest are checked first, together (in a JSON string nearly
// every token is allowed), the whole vocabulary only when none is. In a known state only the
// allowed tokens are read.
llama_token Sampler::likeliest_allowed(llama_context* ctx, int idx) {
  if (!grammar_->known()) {
    load_logits(ctx, idx);
    for (const auto& b : bias_) cur_[size_t(b.token)].logit += b.bias;
    const size_t k = std::min(kLikeliest, cur_.size());
    std::partial_sort(cur_.begin(), cur_.begin() + int64_t(k), cur_.end(),
                      [](const llama_token_data& a, const llama_token_data& b) { return a.logit > b.logit; });
    llama_token_data_array likeliest{cur_.data(), k, -1, true};
    grammar_->filter(&likeliest);
    for (size_t i = 0; i < k; ++i)
      if (cur_[i].logit != -INFINITY) return cur_[i].id;
  }
  const TokenMask& allowed = grammar_->allowed(&new_state_);
  const float* logits = llama_get_logits_ith(ctx, idx);
  llama_token best = LLAMA_TOKEN_NULL;
  float best_logit = -INFINITY;
  allowed.for_each([&](llama_token t) {
    const float logit = logits[t] + bias_of(t);
    if (logit > best_logit) best_logit = logit, best = t;
  });
  return best;
}

// A draw among the tokens the grammar allows: the draw's samplers over those alone give what they
// give over the whole vocabulary with the others at -INFINITY (no probability, same order).
llama_token Sampler::redraw(llama_context* ctx, int idx) {
  const TokenMask& allowed = grammar_->allowed(&new_state_);
  const float* logits = llama_get_logits_ith(ctx, idx);
  cur_.clear();
  allowed.for_each([&](llama_token t) { cur_.push_back({t, logits[t], 0.0f}); });
  cur_p_ = {cur_.data(), cur_.size(), -1, false};
  llama_sampler_apply(chain_, &cur_p_);
  if (cur_p_.selected < 0 || cur_p_.data[cur_p_.selected].logit == -INFINITY) return LLAMA_TOKEN_NULL;
  return cur_p_.data[cur_p_.selected].id;
}

float Sampler::bias_of(llama_token t) const {
  if (!biased_.allows(t)) return 0.0f;
  float sum = 0.0f;
  for (const auto& b : bias_)
    if (b.token == t) sum += b.bias;
  return sum;
}

void Sampler::accept(llama_token token, GrammarClock& clock) {
  if (grammar_) {
    const int64_t t0 = now_ns();
    grammar_->accept(token);
    clock.add(grammar_ns_ + now_ns() - t0, new_state_);
  }
  llama_sampler_accept(chain_, token);
}

}  // namespace skein::llama
