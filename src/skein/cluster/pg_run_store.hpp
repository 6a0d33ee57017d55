// The run store in PostgreSQL (SPEC §9: `skein serve --store postgresql://…`): the contract of
// skein/run_store.hpp, in tables skein_store_* of the database, so hosts on several machines share
// one history: each lists, loads and resumes the others' runs.
//
// Connections: a session connection (ids, adoption, reads; it holds this host's lock) and the
// writer's, each made again when lost, each with server-side bounds (keepalives, a transaction left
// open ends after a minute). Every call waits on the network: never from a loop.
//
// Hosts: each holds a session-level advisory lock on its key while its store is open, and is
// registered (skein_store_hosts) with the time it was last seen. Opening a store, and a keeper
// thread every kKeepEvery after that, marks CRASHED the unfinished runs of the owners that are
// gone: no session holds their lock, unless the server restarted less than 30 s after they were
// last seen (they are reconnecting). So the runs of a host that died are CRASHED within seconds,
// for any other host to resume. The keeper takes this host's lock again after a lost connection.
// A host cut off from the server for longer than the server takes to find its connection dead
// (about 25 s over TCP) is taken for gone: its runs become CRASHED, and its own again at its next
// write, unless another host adopted one meanwhile: from then on that run's rows are written by
// the adopter only.
//
// Writes: each batch of the queue is one transaction of a few statements (heads, steps, events,
// ledger entries as JSON record sets). A batch that fails for a transient reason (the connection
// lost, a deadlock, the server short of resources) is tried again after a back-off, 100 ms
// doubling to 5 s, at most kMaxAttempts times; one the database refuses is tried once more; then
// it is dropped with a message and the runs go on.
//
// Retention: at most `retention` finished runs, across all hosts, the oldest deleted first. A
// bound on bytes is the SQLite store's only (PostgreSQL does not give freed space back): asking
// for one is an InvalidArgumentError.
#pragma once
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "pg.hpp"
#include "runtime/store_common.hpp"
#include "skein/run_store.hpp"

namespace skein::cluster {

class PgRunStore final : public RunStore {
 public:
  static constexpr int kMaxAttempts = 6;
  static constexpr std::chrono::seconds kKeepEvery{5};

  // Connects, makes the tables if missing, registers this host and marks the dead hosts' runs
  // CRASHED. Throws pg::Error when the database cannot be reached.
  PgRunStore(std::string url, size_t retention, uint64_t max_bytes = 0);
  ~PgRunStore() override;  // writes everything queued (as the back-off allows), then leaves
  PgRunStore(const PgRunStore&) = delete;
  PgRunStore& operator=(const PgRunStore&) = delete;

  const std::vector<std::string>& crashed() const override { return crashed_; }
  std::string allocate_id(char kind) override { return ids_.next(kind); }
  void put(StoredRun run) override { queue_->push(std::move(run)); }
  void put(const RunEvent& event) override { queue_->push(event); }
  void put(LedgerRow row) override { queue_->push(std::move(row)); }
  void flush() override { queue_->flush(); }

  std::optional<RunSnapshot> load(const std::string& id) override;
  std::optional<RunState> state(const std::string& id) override;
  std::vector<RunEvent> events(const std::string& id) override;
  std::map<LedgerKey, Json> ledger(const std::string& id) override;
  std::vector<RunSnapshot> recent(size_t limit) override;
  size_t count() override;
  uint64_t bytes_in_use() override;  // the tables' size on disk, indexes included
  std::set<std::string> adopt(const std::vector<std::string>& ids) override;

 private:
  // The session connection's: `f(connection)` under session_mu_, made again (and this host's lock
  // taken again) and tried once more when the connection was lost.
  template <typename F>
  auto on_session(F&& f);
  void open_session();  // under session_mu_
  void hold_lock();     // under session_mu_
  std::vector<std::string> mark_gone(pg::Connection& db);
  void keep();  // the keeper thread's
  int64_t reserve_ids(const char* counter, int64_t n);

  // The writer's.
  void write_or_say(runtime::StoreQueue::Batch& batch);
  void write(pg::Connection& db, const runtime::StoreQueue::Batch& batch);

  const std::string url_;
  const size_t retention_;
  const std::string owner_;  // this host: <hostname>:<pid>-<start>-<boot>-<n>
  int64_t key_ = 0;          // this host's advisory lock key (the second of the pair)
  std::vector<std::string> crashed_;
  std::mutex session_mu_;  // guards session_, locked_ (taken after the IdBlocks' mutex)
  std::unique_ptr<pg::Connection> session_;
  bool locked_ = false;  // session_ holds this host's lock
  runtime::IdBlocks ids_;
  // The writer's: its connection, and the unfinished runs whose head it wrote (their steps are
  // written; another host's are not).
  std::unique_ptr<pg::Connection> writer_db_;
  std::unordered_set<std::string> owned_;
  bool away_ = false;  // a batch was given up for the database being away, none written since
  std::mutex keep_mu_;
  std::condition_variable keep_wake_;
  bool stopping_ = false;
  std::thread keeper_;
  std::unique_ptr<runtime::StoreQueue> queue_;  // started last, stopped first
};

}  // namespace skein::cluster
