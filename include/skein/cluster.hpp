// Scale-out on PostgreSQL (SPEC §9): a chain's run spread over workers on many machines, and the
// run store that lets many hosts share one history.
//
// A cluster run is a chain file's text, its options and its input cut into shards, stored by
// ClusterQueue::submit. Workers (ClusterWorker; `skein worker`) claim shards, run the chain on each
// with a broker of their own, and commit each shard's result fenced by its lease: a worker that
// stops or is cut off loses its shard to another. Once every shard is done, write_run_folder
// writes the folder a local run of the chain over the whole input writes, byte for byte.
//
// Blocking: everything here waits on the network (and a worker on its chain's runs). Call it from
// a command's own thread, never from a loop.
//
// Errors: a database that cannot be reached, was lost, or refused a statement for a transient
// reason (a deadlock, a server short of resources) throws an Error whose code() is unavailable:
// worth another try on a new ClusterQueue. A connection that fails for good (a wrong password, no
// such database) is unavailable too: libpq does not tell them apart. Other refusals are unknown.
//
// The library: skein::cluster (find_package(skein) finds it with libpq), above skein::skein.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "skein/json.hpp"
#include "skein/run_store.hpp"

namespace skein {

namespace cluster {
class ShardQueue;
class Worker;
}  // namespace cluster

// A cluster run as stored.
struct ClusterRun {
  std::string id;          // unique in the database
  std::string chain_text;  // the chain file's text, as read (what the input was cut for)
  std::string chain_hash;  // its sha256 (Chain::file_sha256)
  // What the run folder needs: file (the chain's path), input (its name), batch_size,
  // max_lines_per_file, cache (whether workers keep responses), started_at (UTC, ISO 8601).
  Json options = Json::object();
};

// A cluster run's progress across all workers.
struct ClusterProgress {
  std::string id;
  ChainStatus state = ChainStatus::running;  // done once every shard is
  std::string error;                         // why it failed
  int shards = 0, ready = 0, running = 0, done = 0;
  long long lines = 0, lines_done = 0;
  int retries = 0;  // claims beyond each shard's first
};

// A connection to a cluster's database; its tables are made when missing, so any number of
// processes may open one at once. Not thread-safe: one thread at a time.
class ClusterQueue {
 public:
  explicit ClusterQueue(const std::string& url);  // postgresql://…; connects
  ~ClusterQueue();
  ClusterQueue(ClusterQueue&&) noexcept;
  ClusterQueue& operator=(ClusterQueue&&) noexcept;

  // Stores `run` and its input, JSONL read from `input` as it comes (never whole; `input_name`
  // names it in errors), in one transaction: nothing is stored when it throws. The input is cut
  // into shards of whole batches (`batch_size` valid records each), at least `shard_size` records
  // a shard, so that the run folder comes out as a local run's. `strict`: a bad record throws
  // ConfigError at its line instead of becoming an error record. Sets options' started_at when
  // missing. Returns the number of shards. Throws AlreadyExistsError when the id is taken.
  int submit(ClusterRun run, const Chain& chain, std::istream& input, const std::string& input_name, size_t batch_size,
             size_t shard_size, bool strict);
  std::optional<ClusterRun> run(const std::string& id);  // nullopt for an unknown id
  ClusterProgress progress(const std::string& id);       // NotFoundError for an unknown id
  std::vector<ClusterProgress> runs();                   // every run, newest first
  // Cancels a run not yet done: its open shards stop, its workers' runs are stopped. False when
  // every shard was already committed, it had ended, or there is no such run.
  bool cancel(const std::string& id);
  // Writes the folder of `run` (as run() returned it; `chain` parsed from its chain_text) into
  // `dir`. Throws FailedPreconditionError while shards are not done.
  RunSummary write_run_folder(const ClusterRun& run, const Chain& chain, const std::string& dir);

 private:
  std::unique_ptr<cluster::ShardQueue> queue_;
};

struct ClusterWorkerOptions {
  std::string url;   // postgresql://…
  std::string name;  // in the shards it holds; default host:pid
  std::chrono::milliseconds lease{10000};
  std::string only_run;  // work on this run alone and return once it is done, cancelled or failed
  // Each run gets a broker of its own (two runs may mean different models by one engine name):
  // made with these options and factory, holding `engines` (an engines file's) over the chain's.
  BrokerOptions broker;
  std::map<std::string, EngineConfig> engines;
  Broker::Factory factory = start_engine;
  // Where each shard's run folder is made, then removed: made when the worker is, locked while it
  // lives, removed (if empty) when it goes. Default: a new <temp>/skein-worker-<pid>-XXXXXX; the
  // worker first removes those that killed workers left (this user's folders whose process is gone
  // and whose lock is free).
  std::filesystem::path scratch;
  // A line per shard claimed, committed, fenced…, and a chain's warnings once per run: called on
  // run()'s thread with no lock held (it may call stop() and stats()).
  std::function<void(const std::string&)> on_event;
};

struct ClusterWorkerStats {
  int committed = 0, fenced = 0, abandoned = 0, failed = 0, reconnects = 0;
};

// A worker: claims a shard, runs the chain on its lines, heartbeats the lease while it works,
// commits the result, and claims the next. A shard whose run throws is released for another
// attempt and fails its run at the third. A lost connection is made again with back-off.
class ClusterWorker {
 public:
  // Its response cache connects in the background; run() connects the rest.
  explicit ClusterWorker(ClusterWorkerOptions options);
  ~ClusterWorker();  // releases its engines
  ClusterWorker(const ClusterWorker&) = delete;
  ClusterWorker& operator=(const ClusterWorker&) = delete;
  // Works on the caller's thread until stop(), or with only_run until that run ends (NotFoundError
  // when there is no such run). Throws an unavailable Error for a database it never reached, and
  // the database's refusal to make the cluster's tables; a connection lost later is made again.
  void run();
  void stop();                       // thread-safe; the shard in hand is stopped and left to its lease
  ClusterWorkerStats stats() const;  // thread-safe

 private:
  std::unique_ptr<cluster::Worker> worker_;
};

// The run store in PostgreSQL (`skein serve --store postgresql://…`): RunStore's contract, shared
// by hosts on many machines (each lists, loads and resumes the others' runs; a dead host's
// unfinished runs are marked CRASHED within about 20 s). Keeps at most `retention` finished runs
// across all hosts; a bound on bytes is the SQLite store's only (max_bytes must be 0). Connects at
// once; every call waits on the network.
std::shared_ptr<RunStore> open_postgres_run_store(const std::string& url, size_t retention, uint64_t max_bytes = 0);

}  // namespace skein
