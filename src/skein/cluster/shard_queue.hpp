// The work of a cluster run in PostgreSQL (SPEC §9): the run (its chain file's text and hash, its
// options), its input cut into shards, each shard's lease, and what each shard committed.
//
// A shard goes READY → RUNNING (claimed: attempt + 1, a lease) → DONE (committed). A RUNNING shard
// whose lease ran out is READY again for any worker: claim() takes the first READY or expired shard
// of a running run with FOR UPDATE SKIP LOCKED, so two workers never take the same one. commit()
// writes a shard's outputs, errors and counts and marks it DONE in one transaction, and only while
// the caller's attempt is the shard's current one and its lease has not run out when the statement
// starts (the database's clock): a worker whose lease expired can never commit, and a shard is
// committed once. cancel() marks the run and its open shards CANCELLED and NOTIFYs `skein_cancel`
// with its id; heartbeats and commits then fail.
//
// Blocking: each call is one or a few round trips (see pg.hpp); one thread at a time. The tables
// are made on first use (IF NOT EXISTS), so any number of processes may open a queue at once.
#pragma once
#include <chrono>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "pg.hpp"
#include "skein/cluster.hpp"
#include "skein/json.hpp"

namespace skein::cluster {

using RunSpec = ClusterRun;

// A piece of the input as submitted: `lines` lines (blank ones included) joined by newlines.
struct ShardInput {
  long long first_line = 1;  // 1-based line number of its first line in the whole input
  long long first_row = 0;   // row id of its first record (non-blank line)
  int lines = 0;
  std::string text;
};

// A shard a worker holds, for as long as its lease is renewed.
struct Claim {
  std::string run;
  int shard = 0;
  int attempt = 0;           // 1 for the first claim; fences commits
  long long first_line = 0;  // 1-based line number of its first input line
  int lines = 0;
  long long first_row = 0;
};

// What a shard produced: per node its output lines (JSON, one per line, in order), error lines,
// and its counts.
struct ShardResult {
  std::vector<std::pair<std::string, std::string>> outputs;  // (node, lines)
  std::string errors;
  Json counts = Json::object();
};

enum class Commit { done, fenced };

using RunProgress = ClusterProgress;

// Makes the cluster's tables (runs, shards, their outputs, the response cache) when missing.
void ensure_schema(pg::Connection& db);

class ShardQueue {
 public:
  explicit ShardQueue(const std::string& url);  // connects, makes the tables; throws pg::Error

  // Stores `spec` and the shards `next` returns (until nullopt), sent as they come (COPY), in one
  // transaction. Returns the number of shards. Throws AlreadyExistsError when the id is taken.
  int submit(const RunSpec& spec, const std::function<std::optional<ShardInput>()>& next);
  // The same with `input`'s lines in shards of `shard_size` lines (every line a record).
  int submit(const RunSpec& spec, std::istream& input, int shard_size);
  std::optional<RunSpec> run(const std::string& id);

  // The next shard to work on (of run `only_run` when given), leased to `worker` for `lease`;
  // nullopt when none is ready.
  std::optional<Claim> claim(const std::string& worker, std::chrono::milliseconds lease,
                             const std::string& only_run = "");
  // Extends the lease; false when the shard is no longer this claim's (expired and claimed
  // again, committed, or the run cancelled).
  bool heartbeat(const Claim& c, std::chrono::milliseconds lease);
  std::vector<std::string> input(const Claim& c);  // the shard's lines, in order
  std::string input_text(const Claim& c);          // the same joined by newlines
  // An attempt at `c`'s shard failed with `message`: the shard is READY again for any worker, or,
  // at its `max_attempts`-th attempt, the run FAILED with the message (its other shards stop).
  // Fenced like a commit; returns whether the run failed.
  bool fail(const Claim& c, const std::string& message, int max_attempts);
  Commit commit(const Claim& c, const ShardResult& result);

  // Cancels a run not yet done; false when every shard was already committed (or it had ended).
  bool cancel(const std::string& run);
  // LISTEN on `channel` ("skein_work": a run was submitted; "skein_cancel": payload the run id),
  // then wait up to `timeout` for notifications.
  void listen(const std::string& channel);
  std::vector<pg::Notification> wait(std::chrono::milliseconds timeout, int wake_fd = -1) {
    return db_.wait(timeout, wake_fd);
  }
  RunProgress progress(const std::string& run);  // throws NotFoundError
  std::vector<RunProgress> runs();               // every run, newest first
  // A DONE shard's result (nullopt while it is not DONE).
  std::optional<ShardResult> result(const std::string& run, int shard);
  // Each DONE shard's result in shard order, once every shard is DONE (else nullopt).
  std::optional<std::vector<ShardResult>> results(const std::string& run);

 private:
  pg::Connection db_;
};

}  // namespace skein::cluster
