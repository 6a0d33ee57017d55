#include "grammar.hpp"

#include <llama-grammar.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>

namespace skein::llama {

std::shared_ptr<const TokenMask> TokenMasks::find(const std::string& state) const {
  std::lock_guard l(mu_);
  auto it = by_state_.find(state);
  return it == by_state_.end() ? nullptr : it->second;
}

void TokenMasks::put(const std::string& state, std::shared_ptr<const TokenMask> mask) {
  std::lock_guard l(mu_);
  auto size = [](const std::string& key, const TokenMask& m) { return key.size() + m.words.size() * sizeof(uint64_t); };
  auto [at, added] = by_state_.emplace(state, std::move(mask));
  if (!added) return;
  order_.push_back(&at->first);  // a node's key stays where it is until the node is erased
  bytes_ += size(at->first, *at->second);
  while (bytes_ > kMaxBytes && order_.size() > 1) {
    auto it = by_state_.find(*order_.front());
    bytes_ -= size(it->first, *it->second);
    order_.pop_front();
    by_state_.erase(it);
  }
}

namespace {

// A token's piece decoded as llama_grammar_apply_impl decodes it from a clean state (its
// decode_utf8 with no partial character before): characters, then 0; an invalid sequence gives
// {0} and remain -1; an unfinished last character is kept as the partial one.
void decode(const std::string& piece, GrammarVocab::Token& out) {
  static const int lookup[] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4};
  const char* pos = piece.c_str();
  uint32_t value = 0;
  int remain = 0;
  while (*pos != 0) {
    const auto first = static_cast<uint8_t>(*pos);
    remain = lookup[first >> 4] - 1;
    if (remain < 0) {
      out.code_points = {0};
      out.partial_value = 0, out.partial_remain = remain;
      return;
    }
    value = first & uint8_t((1 << (7 - remain)) - 1);
    for (++pos; *pos != 0 && remain > 0; ++pos, --remain) value = (value << 6) + (static_cast<uint8_t>(*pos) & 0x3F);
    if (remain == 0) out.code_points.push_back(value);
  }
  out.code_points.push_back(0);
  out.partial_value = value, out.partial_remain = remain;
}

std::string piece_of(const llama_vocab* vocab, llama_token t) {
  char buf[256];
  const int n = llama_token_to_piece(vocab, t, buf, sizeof buf, 0, true);
  if (n >= 0) return std::string(buf, size_t(n));
  std::string big(size_t(-n), '\0');
  llama_token_to_piece(vocab, t, big.data(), int32_t(big.size()), 0, true);
  return big;
}

}  // namespace

GrammarVocab::GrammarVocab(const llama_vocab* vocab) {
  tokens.resize(size_t(llama_vocab_n_tokens(vocab)));
  for (llama_token t = 0; t < llama_token(tokens.size()); ++t) {
    Token& token = tokens[size_t(t)];
    token.eog = llama_vocab_is_eog(vocab, t);
    const std::string piece = piece_of(vocab, t);
    if (!token.eog && !piece.empty() && piece[0] != 0) decode(piece, token);
  }
}

Grammar::Grammar(llama_grammar* copy, std::shared_ptr<TokenMasks> masks, std::shared_ptr<const GrammarVocab> vocab)
    : grammar_(copy), masks_(std::move(masks)), vocab_(std::move(vocab)) {
  const llama_grammar_rules& rules = grammar_->rules;
  for (size_t i = 0; i < rules.size(); ++i)
    if (!rules[i].empty()) rules_.push_back({rules[i].data(), rules[i].data() + rules[i].size(), uint32_t(i)});
  std::sort(rules_.begin(), rules_.end(),
            [](const Rule& a, const Rule& b) { return std::less<const llama_grammar_element*>()(a.begin, b.begin); });
}

Grammar::~Grammar() { llama_grammar_free_impl(grammar_); }

// The stacks as (rule, offset) pairs, each stack preceded by its depth, then the partial UTF-8
// character: equal for equal states of any copy of the grammar.
std::string Grammar::state() const {
  std::vector<uint32_t> key;
  for (const llama_grammar_stack& stack : grammar_->stacks) {
    key.push_back(uint32_t(stack.size()));
    for (const llama_grammar_element* e : stack) {
      auto it = std::upper_bound(rules_.begin(), rules_.end(), e, [](auto* p, const Rule& r) {
        return std::less<const llama_grammar_element*>()(p, r.begin);
      });
      if (it == rules_.begin() || !std::less<const llama_grammar_element*>()(e, (--it)->end))
        throw std::logic_error("grammar stack outside its rules");
      key.push_back(it->id);
      key.push_back(uint32_t(e - it->begin));
    }
  }
  // The unfinished character's bits only while one is unfinished: after a whole character llama.cpp
  // leaves the last one in `value`, which nothing reads (else every last character would be a state).
  const llama_partial_utf8& partial = grammar_->partial_utf8;
  key.push_back(partial.n_remain != 0 ? partial.value : 0);
  key.push_back(uint32_t(partial.n_remain));
  return std::string(reinterpret_cast<const char*>(key.data()), key.size() * sizeof(uint32_t));
}

// llama_grammar_apply_impl over the whole vocabulary, its characters decoded once (GrammarVocab)
// where the state has no unfinished character (else llama.cpp's own, which decodes them again).
std::shared_ptr<const TokenMask> Grammar::compute() const {
  const std::vector<GrammarVocab::Token>& tokens = vocab_->tokens;
  auto mask = std::make_shared<TokenMask>(tokens.size());
  if (grammar_->partial_utf8.n_remain != 0) {
    std::vector<llama_token_data> all(tokens.size());
    for (size_t t = 0; t < all.size(); ++t) all[t] = {llama_token(t), 0.0f, 0.0f};
    llama_token_data_array array{all.data(), all.size(), -1, false};
    llama_grammar_apply_impl(*grammar_, &array);
    for (const llama_token_data& d : all)
      if (d.logit != -INFINITY) mask->allow(d.id);
    return mask;
  }
  if (grammar_->stacks.empty()) return mask;  // past the end: nothing (llama.cpp asserts)
  const bool may_end = std::any_of(grammar_->stacks.begin(), grammar_->stacks.end(), [](auto& s) { return s.empty(); });
  llama_grammar_candidates candidates;
  candidates.reserve(tokens.size());
  for (size_t t = 0; t < tokens.size(); ++t) {
    const GrammarVocab::Token& token = tokens[t];
    if (token.eog && may_end) mask->allow(llama_token(t));
    if (token.eog || token.code_points.empty()) continue;
    candidates.push_back({t, token.code_points.data(), {token.partial_value, token.partial_remain}, llama_token(t)});
  }
  std::vector<char> rejected(tokens.size(), 0);
  if (!candidates.empty()) {  // as llama_grammar_reject_candidates
    llama_grammar_candidates rejects = candidates;
    for (const llama_grammar_stack& stack : grammar_->stacks)
      rejects = llama_grammar_reject_candidates_for_stack(grammar_->rules, stack, rejects);
    for (const llama_grammar_candidate& c : rejects) rejected[c.index] = 1;
  }
  for (const llama_grammar_candidate& c : candidates)
    if (!rejected[c.index]) mask->allow(c.id);
  return mask;
}

const TokenMask* Grammar::known() {
  if (!key_) {
    key_ = state();
    current_ = masks_->find(*key_);
  }
  return current_.get();
}

bool Grammar::allows(llama_token token) {
  llama_token_data one{token, 0.0f, 0.0f};
  llama_token_data_array one_p{&one, 1, -1, false};
  filter(&one_p);
  return one.logit != -INFINITY;
}

void Grammar::filter(llama_token_data_array* cur) {
  if (const TokenMask* mask = known()) {
    for (size_t i = 0; i < cur->size; ++i)
      if (!mask->allows(cur->data[i].id)) cur->data[i].logit = -INFINITY;
    return;
  }
  llama_grammar_apply_impl(*grammar_, cur);
}

const TokenMask& Grammar::allowed(bool* computed) {
  if (computed) *computed = false;
  if (const TokenMask* mask = known()) return *mask;
  current_ = compute();
  masks_->put(*key_, current_);
  if (computed) *computed = true;
  return *current_;
}

void Grammar::accept(llama_token token) {
  key_.reset();
  current_.reset();
  llama_grammar_accept_impl(*grammar_, token);
}

GrammarCache::GrammarCache(const llama_vocab* vocab)
    : vocab_(vocab), decoded_(std::make_shared<const GrammarVocab>(vocab)) {}

GrammarCache::~GrammarCache() = default;

std::unique_ptr<Grammar> GrammarCache::copy(const std::string& gbnf) {
  auto it = by_text_.find(gbnf);
  if (it != by_text_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
  } else {
    Owned grammar(llama_grammar_init_impl(vocab_, gbnf.c_str(), "root", false, nullptr, 0, nullptr, 0),
                  llama_grammar_free_impl);
    if (!grammar) return nullptr;
    lru_.emplace_front(gbnf, Compiled{std::move(grammar), std::make_shared<TokenMasks>()});
    by_text_[gbnf] = lru_.begin();
    if (lru_.size() > kKept) {
      by_text_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  const Compiled& c = lru_.front().second;
  Owned clone(llama_grammar_clone_impl(*c.grammar), llama_grammar_free_impl);
  auto copy = std::make_unique<Grammar>(clone.get(), c.masks, decoded_);
  clone.release();  // the copy's now
  return copy;
}

}  // namespace skein::llama
