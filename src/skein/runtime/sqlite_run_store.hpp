// The run store in one SQLite file (WAL) under the state directory: the default store (see
// skein/run_store.hpp for the contract). Steps and ledger entries are rows keyed by integers that
// keep each run's together (see sqlite_run_store_rows.hpp).
//
// Hosts: each holds a lock file (<store dir>/hosts/<pid>-<start>-<n>.lock) while its store is open;
// opening a store marks CRASHED the unfinished runs of the owners whose lock is free. Ids come from
// a counter incremented in a write transaction, in blocks (see IdBlocks), and a host gives the
// unused ones back when it closes, unless another host took ids since: ids are dense on one host
// and may skip a few after a crash or between hosts. allocate_id and adopt may wait for another
// host's write transaction (up to the busy timeout). A batch that cannot be written (the disk is
// full, another host held the database longer than the busy timeout) is tried once more, then
// dropped with a message: the runs go on either way.
//
// `max_bytes` bounds the pages in use (0: no bound), the oldest finished runs deleted first.
#pragma once
#include <filesystem>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "skein/mutex.hpp"
#include "skein/run_store.hpp"
#include "store_common.hpp"

namespace skein {
class SqliteDb;
}

namespace skein::runtime {

class SqliteRunStore final : public QueuedRunStore {
 public:
  SqliteRunStore(const std::filesystem::path& file, size_t retention, uint64_t max_bytes = 0);
  ~SqliteRunStore() override;
  SqliteRunStore(const SqliteRunStore&) = delete;
  SqliteRunStore& operator=(const SqliteRunStore&) = delete;

  std::optional<RunSnapshot> load(const std::string& id) override;
  std::optional<RunState> state(const std::string& id) override;
  std::vector<RunEvent> events(const std::string& id) override;
  std::map<LedgerKey, Json> ledger(const std::string& id) override;
  std::vector<RunSnapshot> recent(size_t limit) override;
  size_t count() override;
  uint64_t bytes_in_use() override;  // pages in use (the file may be larger: freed pages are reused)
  std::set<std::string> adopt(const std::vector<std::string>& ids) override;

 private:
  using Item = StoreQueue::Item;
  void write_or_say(StoreQueue::Batch& batch) SKEIN_REQUIRES(db_mu_);
  void write(StoreQueue::Batch& batch) SKEIN_REQUIRES(db_mu_);
  bool write_head(const RunSnapshot& head) SKEIN_REQUIRES(db_mu_);
  void write_steps(const StoredRun& run) SKEIN_REQUIRES(db_mu_);
  void write_item(const Item& item) SKEIN_REQUIRES(db_mu_);
  int64_t next_ledger_key(const std::string& run) SKEIN_REQUIRES(db_mu_);
  void apply_retention() SKEIN_REQUIRES(db_mu_);
  void delete_runs(const std::vector<std::string>& ids) SKEIN_REQUIRES(db_mu_);
  void bound_size() SKEIN_REQUIRES(db_mu_);
  void hold_host_lock();
  bool host_alive(const std::string& owner) const;
  void mark_crashed() SKEIN_REQUIRES(db_mu_);
  int64_t reserve_ids(const char* counter, int64_t n);  // the last of n new ids
  void return_unused_ids();

  struct Writes;  // the writer's prepared statements
  std::unique_ptr<SqliteDb> db_ SKEIN_PT_GUARDED_BY(db_mu_);
  std::unique_ptr<Writes> writes_ SKEIN_PT_GUARDED_BY(db_mu_);
  struct Reads;  // the readers' prepared statements
  std::unique_ptr<Reads> reads_ SKEIN_PT_GUARDED_BY(db_mu_);
  size_t retention_;
  uint64_t max_bytes_;
  std::string owner_;  // this host: <pid>-<start time>-<boot>-<n>
  std::filesystem::path hosts_;
  int lock_fd_ = -1;
  mutable Mutex db_mu_;  // guards the database (the writer, readers, ids; taken after the IdBlocks')
  // The writer's: runs' last ledger entry numbers, and the unfinished runs whose head it wrote
  // (their steps are written; another host's are not).
  std::unordered_map<int64_t, int64_t> ledger_seq_;
  std::unordered_set<std::string> owned_;
};

}  // namespace skein::runtime
