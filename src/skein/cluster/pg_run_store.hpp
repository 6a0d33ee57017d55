// The run store in PostgreSQL (SPEC §9: `skein serve --store postgresql://…`): the contract of
// skein/run_store.hpp, in tables skein_store_* of the database, so hosts on several machines share
// one history: each lists, loads and resumes the others' runs.
//
// Connections: the session's (ids, adoption, reads), the writer's and the keeper's (it holds this
// host's lock), each made again when lost, each with server-side bounds (keepalives, a transaction
// left open ends after a minute). Every call waits on the network: never from a loop.
//
// Hosts: each holds a session-level advisory lock on its key while its store is open, and is
// registered (skein_store_hosts) with the time it was last seen, renewed by a keeper thread every
// kKeepEvery. Opening a store, and the keeper after that, marks CRASHED the unfinished runs of the
// owners that are gone: no session holds their lock and they were not seen for kGoneAfter. So the
// runs of a host that died are CRASHED within about kGoneAfter + kKeepEvery, for any other host to
// resume, and a host that reconnects within kGoneAfter (a server restart, a network blip) keeps
// its runs. One cut off for longer is taken for gone; when it is back its runs that no other host
// adopted meanwhile get their state back, and an adopted run's rows are written by the adopter
// only (in SQL: rows of a run this host does not own are refused).
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

class PgRunStore final : public runtime::QueuedRunStore {
 public:
  static constexpr int kMaxAttempts = 6;
  static constexpr std::chrono::seconds kKeepEvery{5};
  static constexpr std::chrono::seconds kGoneAfter{15};

  // Connects, makes the tables if missing, registers this host and marks the dead hosts' runs
  // CRASHED. Throws pg::Error when the database cannot be reached. `keep_every`: the keeper's
  // period (tests lengthen it to act as a host that is cut off).
  PgRunStore(std::string url, size_t retention, uint64_t max_bytes = 0,
             std::chrono::milliseconds keep_every = kKeepEvery);
  ~PgRunStore() override;  // writes everything queued (as the back-off allows), then leaves
  PgRunStore(const PgRunStore&) = delete;
  PgRunStore& operator=(const PgRunStore&) = delete;

  std::optional<RunSnapshot> load(const std::string& id) override;
  std::optional<RunState> state(const std::string& id) override;
  std::vector<RunEvent> events(const std::string& id) override;
  std::map<LedgerKey, Json> ledger(const std::string& id) override;
  std::vector<RunSnapshot> recent(size_t limit) override;
  size_t count() override;
  uint64_t bytes_in_use() override;  // the tables' size on disk, indexes included
  std::set<std::string> adopt(const std::vector<std::string>& ids) override;

 private:
  // The session connection's: `f(connection)` under session_mu_, the connection made again and `f`
  // tried once more when it was lost (pg_run_store_parts.hpp).
  template <typename F>
  auto on_session(F&& f);
  void open_session();  // under session_mu_
  // The keeper's (the constructor's before the keeper starts, the destructor's after it ended).
  void connect_keeper();
  void hold_lock();
  std::vector<std::string> mark_gone();
  void keep();
  int64_t reserve_ids(const char* counter, int64_t n);

  // The writer's.
  void write_or_say(runtime::StoreQueue::Batch& batch);
  void write(pg::Connection& db, const runtime::StoreQueue::Batch& batch);

  const std::string url_;
  const size_t retention_;
  const std::chrono::milliseconds keep_every_;
  const std::string owner_;  // this host: <hostname>:<pid>-<start>-<boot>-<n>
  int64_t key_ = 0;          // this host's advisory lock key (the second of the pair)
  std::mutex session_mu_;    // guards session_ (taken after the IdBlocks' mutex)
  std::unique_ptr<pg::Connection> session_;
  // The keeper's: its connection, whether it holds this host's lock, when this host was last seen
  // (now_ns), whether its runs are to get their state back (it was unseen long enough to be taken
  // for gone).
  std::unique_ptr<pg::Connection> keeper_db_;
  bool locked_ = false, restore_ = false;
  int64_t last_seen_ns_ = 0;
  // The writer's: its connection, and the unfinished runs whose head it wrote (their steps are
  // written; another host's are not).
  std::unique_ptr<pg::Connection> writer_db_;
  std::unordered_set<std::string> owned_;
  bool away_ = false;  // a batch was given up for the database being away, none written since
  std::mutex keep_mu_;
  std::condition_variable keep_wake_;
  bool stopping_ = false;
  std::thread keeper_;
};

}  // namespace skein::cluster
