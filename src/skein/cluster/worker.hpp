// A cluster worker (SPEC §9, `skein worker`): claims a shard, runs the chain on its lines with its
// own broker, heartbeats the lease while it works, commits the shard's result fenced by its
// attempt, and claims the next one. The response cache is the database's (PgResponseStore): what a
// shard's calls kept is written before its result is committed.
//
// Threads: run() is the claim → work → commit loop on the caller's thread (blocking: database
// round trips and run_chain, which has its own loop); while a shard runs, a lease thread with a
// connection of its own (kept from shard to shard) heartbeats every lease/3 and LISTENs for
// `skein_cancel`. The shard's run is
// stopped (as a local cancel stops a run: engine calls cancelled, exec processes ended) when its
// run is cancelled, its lease is lost (another attempt owns the shard) or the lease thread loses
// the database; its result is then dropped and the shard left to its lease. A shard whose run
// throws (or whose result the database refuses) is released for another attempt, and fails the
// run at its kMaxAttempts-th. A worker that loses its connection reconnects with back-off (100 ms
// doubling to 5 s). stop() is thread-safe.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "pg_response_store.hpp"
#include "shard_queue.hpp"
#include "skein/broker.hpp"
#include "skein/chain.hpp"

namespace skein::cluster {

using WorkerOptions = ClusterWorkerOptions;

// A shard whose attempts fail this many times fails its run (a fault every worker meets); before
// that, a failed attempt makes the shard ready for any worker (a fault of one machine).
constexpr int kMaxAttempts = 3;

using WorkerStats = ClusterWorkerStats;

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();
  // Works until stop(), or with only_run until that run ends. Throws pg::Error only for a
  // database it never reached.
  void run();
  void stop();  // thread-safe; the shard in hand is stopped and left to its lease
  WorkerStats stats() const;

 private:
  struct Held;
  bool work_once(ShardQueue& queue);
  void work(ShardQueue& queue, const Claim& claim);
  void hold_lease(const Claim& claim, ChainStop& stop, Held& held);  // the lease thread
  const Chain& chain_of(const RunSpec& spec);                        // parsed once per run
  Broker& broker_for(const std::string& run);                        // the run's broker; the previous run's released
  void event(const std::string& line);
  // Whether `warning` is new for `run` here: a chain's warnings are said once per run, not per shard.
  bool first_warning(const std::string& run, const std::string& warning);
  void pause(std::chrono::milliseconds d);  // returns early on stop()

  WorkerOptions options_;
  int scratch_lock_ = -1;  // options_.scratch, open and locked while the worker lives (-1: not)
  std::unique_ptr<Broker> broker_;
  std::string broker_run_;
  std::map<std::string, Chain> chains_;
  // The lease threads' connection, LISTENing for cancels: used by one shard's lease thread at a
  // time (each is joined before the next starts).
  std::unique_ptr<ShardQueue> lease_db_;
  // The response cache of every run whose options keep it ("cache", the default): the database's.
  std::shared_ptr<PgResponseStore> responses_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  ChainStop* current_ = nullptr;                         // the shard's run, while one runs
  std::map<std::string, std::set<std::string>> warned_;  // per run, the warnings said
  WorkerStats stats_;
};

}  // namespace skein::cluster
