#include "prefix_cache.hpp"

#include <algorithm>
#include <numeric>

namespace skein::llama {

size_t common_prefix(const std::vector<llama_token>& a, const std::vector<llama_token>& b) {
  const size_t n = std::min(a.size(), b.size());
  return size_t(std::mismatch(a.begin(), a.begin() + int64_t(n), b.begin()).first - a.begin());
}

PrefixCache::PrefixCache(llama_context* ctx, int first_seq, int seqs, int max_cells)
    : mem_(llama_get_memory(ctx)), max_cells_(max_cells) {
  for (int s = first_seq + seqs - 1; s >= first_seq; --s) free_seqs_.push_back(s);
}

PrefixCache::Match PrefixCache::find(const std::vector<llama_token>& prompt, bool use) {
  Match best;
  Entry* hit = nullptr;
  for (auto& e : entries_)
    if (const int n = int(common_prefix(e.tokens, prompt)); n > best.length) best = {e.seq, n}, hit = &e;
  if (hit && use) hit->used = ++clock_;
  return best;
}

void PrefixCache::keep(const std::vector<llama_token>& decoded, int seq) {
  const std::vector<llama_token> prompt(decoded.begin(), decoded.begin() + int64_t(keepable(decoded.size())));
  if (prompt.empty()) return;
  const Match best = find(prompt);
  if (best.length == int(prompt.size())) return;  // an entry holds it all
  if (free_seqs_.empty()) {                       // the least recently used entry but the source
    size_t lru = entries_.size();
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].seq != best.seq && (lru == entries_.size() || entries_[i].used < entries_[lru].used)) lru = i;
    if (lru == entries_.size()) return;  // one sequence only, and it is the source
    drop(lru);
  }
  const int c = free_seqs_.back();
  free_seqs_.pop_back();
  // The shared prefix from the entry that has it (so the two share its cells), the rest from `seq`.
  if (best.length > 0) llama_memory_seq_cp(mem_, best.seq, c, 0, best.length);
  llama_memory_seq_cp(mem_, seq, c, best.length, llama_pos(prompt.size()));
  // Entries the new one begins with are redundant: their cells are all its cells too.
  for (size_t i = entries_.size(); i-- > 0;)
    if (common_prefix(entries_[i].tokens, prompt) == entries_[i].tokens.size()) drop(i);
  entries_.push_back({prompt, c, ++clock_});
  ++version_;
  evict_until_fits(c);
}

int PrefixCache::cells() const {
  // The trie's size: every entry's tokens, less what each shares with its neighbour in sorted order.
  std::vector<const std::vector<llama_token>*> sorted;
  for (const auto& e : entries_) sorted.push_back(&e.tokens);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return *a < *b; });
  size_t n = 0;
  for (size_t i = 0; i < sorted.size(); ++i)
    n += sorted[i]->size() - (i ? common_prefix(*sorted[i - 1], *sorted[i]) : 0);
  return int(n);
}

void PrefixCache::drop(size_t i) {
  llama_memory_seq_rm(mem_, entries_[i].seq, -1, -1);  // cells no other sequence holds become free
  free_seqs_.push_back(entries_[i].seq);
  entries_.erase(entries_.begin() + int64_t(i));
  ++version_;
}

void PrefixCache::evict_until_fits(int keep_seq) {
  while (cells() > max_cells_) {
    size_t lru = entries_.size();
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].seq != keep_seq && (lru == entries_.size() || entries_[i].used < entries_[lru].used)) lru = i;
    if (lru == entries_.size()) return;
    drop(lru);
  }
}

}  // namespace skein::llama
