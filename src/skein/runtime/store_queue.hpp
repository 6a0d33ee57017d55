// A run store's queue of writes and the thread that writes them (see skein/run_store.hpp): put()
// returns at once; the thread takes what is queued in batches (group commit: a small batch waits
// up to 0.5 ms for company unless someone flushes) of at most kMaxBatch items, hands each to the
// store's `write` (one transaction), then calls its ledger rows' `committed`.
//
// Thread-safe. flush() blocks until everything queued before it is written; stop() (and the
// destructor) writes everything queued, then ends the thread.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "skein/mutex.hpp"
#include "skein/run_store.hpp"

namespace skein::runtime {

class StoreQueue {
 public:
  using Item = std::variant<StoredRun, RunEvent, LedgerRow>;
  using Batch = std::deque<Item>;
  static constexpr size_t kGroup = 256;      // a batch this large is written at once
  static constexpr size_t kMaxBatch = 4096;  // items in one transaction at most

  // `write` runs on the queue's thread (named `thread_name`, in top, perf and gdb); it must not
  // throw. The thread starts at once.
  StoreQueue(std::string thread_name, std::function<void(Batch&)> write);
  ~StoreQueue();
  StoreQueue(const StoreQueue&) = delete;
  StoreQueue& operator=(const StoreQueue&) = delete;

  void push(Item item) SKEIN_EXCLUDES(mu_);
  void flush() SKEIN_EXCLUDES(mu_);
  void stop() SKEIN_EXCLUDES(mu_);  // idempotent; the store calls it before closing what `write` uses

 private:
  void loop() SKEIN_EXCLUDES(mu_);
  Batch take() SKEIN_REQUIRES(mu_);
  // The writer waits for a batch: one is queued, or the queue stops.
  bool has_work() const SKEIN_REQUIRES(mu_) { return stop_ || !queue_.empty(); }
  // A small batch is written at once: it has company enough, or someone waits for it, or the end.
  bool group_ready() const SKEIN_REQUIRES(mu_) { return stop_ || flushing_ || queue_.size() >= kGroup; }

  const std::string name_;
  const std::function<void(Batch&)> write_;
  Mutex mu_;
  std::condition_variable wake_, written_;
  Batch queue_ SKEIN_GUARDED_BY(mu_);
  uint64_t queued_ SKEIN_GUARDED_BY(mu_) = 0;
  uint64_t done_ SKEIN_GUARDED_BY(mu_) = 0;
  int flushing_ SKEIN_GUARDED_BY(mu_) = 0;  // threads in flush(): no group-commit wait
  bool stop_ SKEIN_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace skein::runtime
