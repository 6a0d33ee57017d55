// The grammars of the llama engine: compiled once per GBNF text (GrammarCache), copied per request
// (Grammar), with the set of tokens each grammar state allows computed once and shared by every
// copy (TokenMasks).
//
// A grammar state is llama.cpp's: the pushdown stacks (positions in the compiled rules) and the
// bytes of an unfinished UTF-8 character. What a state allows depends on nothing else, so the
// tokens it allows are computed once (llama.cpp's llama_grammar_apply_impl over the whole
// vocabulary, milliseconds) and looked up after that (a hash of the stacks, microseconds). In
// JSON, states repeat within a value (every character of a string is one state) and across the
// values of a type, so nearly every token after the first few requests is a lookup.
//
// Uses llama.cpp's internal grammar API (src/llama-grammar.h of the pinned tree).
#pragma once
#include <llama.h>

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct llama_grammar;
struct llama_grammar_element;

namespace skein::llama {

// One bit per token of the vocabulary.
struct TokenMask {
  explicit TokenMask(size_t n_vocab = 0) : words((n_vocab + 63) / 64, 0) {}
  std::vector<uint64_t> words;
  bool allows(llama_token t) const { return (words[size_t(t) >> 6] >> (t & 63)) & 1; }
  void allow(llama_token t) { words[size_t(t) >> 6] |= uint64_t(1) << (t & 63); }
  template <typename F>
  void for_each(F&& f) const {  // f(token) for each allowed token, in order
    for (size_t w = 0; w < words.size(); ++w)
      for (uint64_t bits = words[w]; bits; bits &= bits - 1) f(llama_token(w * 64 + size_t(__builtin_ctzll(bits))));
  }
};

// The vocabulary as the grammar reads it: each token's characters, decoded once per engine (as
// llama_grammar_apply_impl decodes them for every call). Immutable once made.
struct GrammarVocab {
  explicit GrammarVocab(const llama_vocab* vocab);
  struct Token {
    std::vector<uint32_t> code_points;  // 0-terminated; empty: never allowed (an empty piece)
    uint32_t partial_value = 0;         // an unfinished last character
    int partial_remain = 0;
    bool eog = false;
  };
  std::vector<Token> tokens;
};

// The tokens allowed by each state seen of one compiled grammar, bounded in bytes (the first
// computed are dropped first; 4 MiB: 1,000 states of a 32k vocabulary, 128 of a 256k one; the
// engine keeps 64 compiled grammars, so at most 256 MiB in all). Thread-safe; shared by the
// grammar's copies.
class TokenMasks {
 public:
  std::shared_ptr<const TokenMask> find(const std::string& state) const;
  void put(const std::string& state, std::shared_ptr<const TokenMask> mask);

 private:
  static constexpr size_t kMaxBytes = size_t(4) << 20;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const TokenMask>> by_state_;
  std::deque<const std::string*> order_;  // by_state_'s keys, first computed first
  size_t bytes_ = 0;
};

// A request's copy of a compiled grammar. One thread at a time (made on the engine's prepare
// thread, used on its decode thread).
class Grammar {
 public:
  // Owns `copy`.
  Grammar(llama_grammar* copy, std::shared_ptr<TokenMasks> masks, std::shared_ptr<const GrammarVocab> vocab);
  ~Grammar();
  Grammar(const Grammar&) = delete;
  Grammar& operator=(const Grammar&) = delete;

  // The tokens the current state allows if a copy computed them already, else null.
  const TokenMask* known();
  // Whether the current state allows `token`: a lookup when the state is known, else the token
  // alone checked (microseconds).
  bool allows(llama_token token);
  // Sets the logit of each token in `cur` the current state refuses to -INFINITY (a lookup when
  // the state is known, else llama.cpp's check of those tokens together).
  void filter(llama_token_data_array* cur);
  // The tokens the current state allows (end-of-generation ones only where the value may end).
  // `computed` is set when the state was new to every copy (the whole vocabulary checked).
  const TokenMask& allowed(bool* computed = nullptr);
  // Advances past `token`, which must be allowed. Throws when the grammar cannot take it.
  void accept(llama_token token);

 private:
  std::string state() const;
  std::shared_ptr<const TokenMask> compute() const;

  llama_grammar* grammar_;
  std::shared_ptr<TokenMasks> masks_;
  std::shared_ptr<const GrammarVocab> vocab_;
  std::optional<std::string> key_;            // the current state's, once looked for
  std::shared_ptr<const TokenMask> current_;  // and its mask, found or computed
  struct Rule {
    const llama_grammar_element *begin, *end;
    uint32_t id;
  };
  std::vector<Rule> rules_;  // by address: a stack entry's rule and offset make the state's key
};

// Compiled grammars by GBNF text, the most recently used 64 kept, each with its TokenMasks; copy()
// hands out a fresh Grammar (rules and stacks copied, nothing parsed). One thread only (the
// engine's prepare thread).
class GrammarCache {
 public:
  explicit GrammarCache(const llama_vocab* vocab);
  ~GrammarCache();
  // A copy of `gbnf` compiled; null when llama.cpp refuses the grammar.
  std::unique_ptr<Grammar> copy(const std::string& gbnf);

 private:
  static constexpr size_t kKept = 64;
  using Owned = std::unique_ptr<llama_grammar, void (*)(llama_grammar*)>;
  struct Compiled {
    Owned grammar;
    std::shared_ptr<TokenMasks> masks;
  };
  const llama_vocab* vocab_;
  std::shared_ptr<const GrammarVocab> decoded_;
  std::list<std::pair<std::string, Compiled>> lru_;  // most recent first
  std::unordered_map<std::string, decltype(lru_)::iterator> by_text_;
};

}  // namespace skein::llama
