// The llama engine's cache of prefilled prompts (after SGLang's RadixAttention and llama-server's
// cache_prompt): prompts the engine decoded recently, each held in KV by a sequence id of its own,
// so that a new prompt beginning like one of them starts from those cells instead of computing
// them again.
//
// It needs a unified KV cache (one stream for every sequence): there llama_memory_seq_cp only tags
// the source's cells with the destination's id, so a prompt, its cache entry and every slot that
// starts from it share one set of cells. An entry copies the prefix it shares with the entry
// closest to it from that entry, so any two entries share their whole common prefix and the cells
// the cache holds are the size of the token trie of its entries. That size is bounded
// (`max_cells`), and so is the number of entries (`seqs`, one sequence id each); the least
// recently used entries go first.
//
// Decode thread only (it changes the llama context's memory).
#pragma once
#include <llama.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace skein::llama {

class PrefixCache {
 public:
  // Entries use sequence ids [first_seq, first_seq + seqs).
  PrefixCache(llama_context* ctx, int first_seq, int seqs, int max_cells);

  struct Match {
    int seq = -1;    // the entry's sequence, -1 when nothing matched
    int length = 0;  // tokens of the prompt its cells hold
  };
  // The entry sharing the longest prefix with `prompt`; `use` marks it recently used.
  Match find(const std::vector<llama_token>& prompt, bool use = true);

  // `seq` (a slot) holds `prompt` in KV, just decoded: kept as an entry (its first max_cells tokens),
  // evicting others as needed. Nothing when an entry already holds all of it.
  void keep(const std::vector<llama_token>& prompt, int seq);

  // The tokens of `prompt` that keep() would hold (a prompt longer than the cache is cut).
  size_t keepable(size_t prompt_tokens) const { return std::min<size_t>(prompt_tokens, size_t(max_cells_)); }
  int cells() const;                             // held by the entries together (shared prefixes counted once)
  uint64_t version() const { return version_; }  // changes whenever the entries do
  size_t entries() const { return entries_.size(); }

 private:
  struct Entry {
    std::vector<llama_token> tokens;
    int seq;
    uint64_t used;
  };
  void drop(size_t i);
  void evict_until_fits(int keep_seq);  // never that entry

  llama_memory_t mem_;
  int max_cells_;
  std::vector<int> free_seqs_;
  std::vector<Entry> entries_;
  uint64_t clock_ = 0;
  uint64_t version_ = 0;
};

// Tokens `a` and `b` have in common from the start.
size_t common_prefix(const std::vector<llama_token>& a, const std::vector<llama_token>& b);

}  // namespace skein::llama
