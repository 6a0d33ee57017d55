// What the run stores (SQLite, PostgreSQL) share: who a host is, run ids taken in blocks from a
// counter shared by the hosts, which heads a batch writes, a graph run's head as loaded, and the
// base of both (ids, crashed runs, the queue of writes).
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store_queue.hpp"

namespace skein::runtime {

// The id of run number `n` of its kind: g<n> for a graph run, c<n> for a chain run.
inline std::string run_id(RunKind kind, int64_t n) { return (kind == RunKind::graph ? "g" : "c") + std::to_string(n); }

// This store of this process, unique even after the pid is reused, the machine restarted or on
// another machine: "<pid>-<process start time in ticks>-<boot id>-<n>", n counting the stores the
// process opened.
std::string host_identity();

// The runs whose heads a batch writes: each run's latest head in it, once, in the order the runs
// first appear (a new run's row comes after older ones: retention deletes in row order).
std::vector<const StoredRun*> latest_heads(const StoreQueue::Batch& batch);

// A graph run's head is written when its state changes, not at each node: one that did not end
// (unfinished, CRASHED) is where its last checkpoint (its stored steps) says.
void settle_loaded(RunSnapshot& run);

// A run store's dead-host message, and the WHERE clause of the runs some host still has to finish.
inline constexpr const char* kCrashedError = "Skein stopped while the run was unfinished";
inline constexpr const char* kUnfinished = "state NOT IN ('DONE', 'FAILED', 'CANCELLED', 'CRASHED')";

// Run ids, taken from the store's counter (`reserve(kind, n)` adds n to counter "graph" or "chain"
// and returns its new value) one at a time while submits are sparse. A block used up within 100 ms
// of its arrival doubles the next one, within a second keeps its size, later starts again from one
// (so a burst of n runs costs about log2(n) + n / kMaxBlock transactions). Thread-safe.
class IdBlocks {
 public:
  static constexpr int64_t kMaxBlock = 1024;
  using Reserve = std::function<int64_t(const char* counter, int64_t n)>;
  explicit IdBlocks(Reserve reserve) : reserve_(std::move(reserve)) {}
  std::string next(RunKind kind) SKEIN_EXCLUDES(mu_);
  // For each counter with ids taken and not handed out, (next, end]: `give(counter, next, end)`
  // may set the counter back to `next` if it still is `end`.
  void give_back(const std::function<void(const char* counter, int64_t next, int64_t end)>& give) SKEIN_EXCLUDES(mu_);

 private:
  struct Block {
    int64_t next = 0, end = 0, size = 0, taken_ns = 0;
  };
  Reserve reserve_;
  Mutex mu_;
  Block blocks_[EnumCount<RunKind>::value] SKEIN_GUARDED_BY(mu_);  // by RunKind
};

// A run store whose ids come from IdBlocks and whose writes go through a StoreQueue: a store
// implements the reads, adopt and its writer's `write`, starts the writer last in its constructor
// and stops it first in its destructor (before what `write` uses goes).
class QueuedRunStore : public RunStore {
 public:
  const std::vector<std::string>& crashed() const override { return crashed_; }
  std::string allocate_id(RunKind kind) override { return ids_.next(kind); }
  void put(StoredRun run) override { queue_->push(std::move(run)); }
  void put(const RunEvent& event) override { queue_->push(event); }
  void put(LedgerRow row) override { queue_->push(std::move(row)); }
  void flush() override { queue_->flush(); }

 protected:
  explicit QueuedRunStore(IdBlocks::Reserve reserve) : ids_(std::move(reserve)) {}
  void start_writer(std::string thread_name, std::function<void(StoreQueue::Batch&)> write) {
    queue_ = std::make_unique<StoreQueue>(std::move(thread_name), std::move(write));
  }
  void stop_writer() {
    if (queue_) queue_->stop();
  }

  std::vector<std::string> crashed_;  // marked when the store opened
  IdBlocks ids_;

 private:
  std::unique_ptr<StoreQueue> queue_;
};

}  // namespace skein::runtime
