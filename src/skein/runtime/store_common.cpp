#include "store_common.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unordered_map>

namespace skein::runtime {

std::string host_identity() {
  static std::atomic<int> opened{0};
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The 22nd field, counted after the command's closing parenthesis (which may hold spaces).
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
  }
  std::string boot;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot;
  return std::to_string(::getpid()) + "-" + field + "-" + boot.substr(0, 8) + "-" + std::to_string(++opened);
}

std::vector<const StoredRun*> latest_heads(const StoreQueue::Batch& batch) {
  std::unordered_map<std::string_view, size_t> at;
  std::vector<const StoredRun*> heads;
  for (const auto& item : batch)
    if (const auto* r = std::get_if<StoredRun>(&item); r && !r->steps_only) {
      auto [it, first] = at.try_emplace(r->head.id, heads.size());
      if (first)
        heads.push_back(r);
      else
        heads[it->second] = r;
    }
  return heads;
}

void settle_loaded(RunSnapshot& run) {
  if (run.kind != RunKind::graph || (is_finished(run.state) && run.state != RunState::crashed)) return;
  if (!run.trace.empty() && run.state != RunState::waiting)  // at a gate, its head names the node
    run.node = run.trace.back().type;
  run.tokens = {};
  for (const auto& t : run.nodes) run.tokens += t.tokens;
}

std::string IdBlocks::next(RunKind kind) {
  MutexLock l(mu_);
  Block& b = blocks_[int(kind)];
  if (b.next == b.end) {
    const int64_t used_in = now_ns() - b.taken_ns;
    b.size = used_in < 100'000'000 ? std::min(2 * b.size, kMaxBlock) : used_in < 1'000'000'000 ? b.size : 1;
    b.end = reserve_(to_string(kind), b.size);
    b.next = b.end - b.size;
    b.taken_ns = now_ns();
  }
  return run_id(kind, ++b.next);
}

void IdBlocks::give_back(const std::function<void(const char*, int64_t, int64_t)>& give) {
  MutexLock l(mu_);
  for (int i = 0; i < EnumCount<RunKind>::value; ++i)
    if (blocks_[i].next != blocks_[i].end) give(to_string(RunKind(i)), blocks_[i].next, blocks_[i].end);
}

}  // namespace skein::runtime
