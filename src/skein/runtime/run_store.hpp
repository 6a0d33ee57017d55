// The store of runs (SPEC §5): each run's record (state, error, input, tokens; its trace, node and
// dep timings as rows of their own, added as they come) and its events, in one SQLite file (WAL) under the state
// directory. A thread of its own writes them in batches, so the loop never waits for the disk. At most `retention` runs
// are kept, the oldest finished ones dropped first. A graph run's ledger (LM replies, dep values, gate
// answers) lives beside it, written in the same batches, and goes with it.
//
// Several processes (hosts) may use one store at once. Each run row names its owner, the host that
// writes it; a host never overwrites another's run. Each host holds a lock file
// (<store dir>/hosts/<pid>-<start>-<n>.lock) while its store is open; opening a store marks CRASHED the
// unfinished runs of the owners whose lock is free (killed, crashed), and no one else's. Run ids
// come from a counter incremented in a write transaction, so two hosts never take the same id. A
// host that submits fast takes them in blocks (doubling, up to kMaxIdBlock; one at a time when
// submits are sparse) and gives the unused ones back when it closes, unless another host took ids
// since: ids are dense on one host and may skip a few after a crash or between hosts.
#pragma once
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "skein/run_registry.hpp"

namespace skein {
class SqliteDb;
}

namespace skein::runtime {

// A run's record for the store: its head (the snapshot without its steps: trace, node timings,
// dep timings) and the steps new since its last record, from those indexes on; with `all`, every
// step, replacing what is stored. Each step is written once, so a run of n nodes costs O(n). With
// `steps_only` the stored head stays as it is (a graph run's node checkpoint: load() derives its
// node and tokens from its steps until its head is written again).
struct StoredRun {
  RunSnapshot head;
  bool all = false, steps_only = false;
  size_t trace_from = 0, nodes_from = 0, deps_from = 0;
  std::vector<TraceEntry> trace;
  std::vector<NodeTiming> nodes;
  std::vector<DepTiming> deps;
};

// A ledger entry of a graph run (see RunLedger); `committed` (optional) is called on the writer
// thread once it is in the database, or once its batch was given up.
struct LedgerRow {
  std::string run;
  LedgerKey key;
  Json value;
  std::function<void()> committed;
};

class RunStore {
 public:
  // At most `retention` finished runs are kept, and at most `max_bytes` of pages in use (0: no
  // bound), the oldest finished runs deleted first with everything of theirs.
  RunStore(const std::filesystem::path& file, size_t retention, uint64_t max_bytes = 0);
  ~RunStore();  // writes everything queued
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::vector<std::string>& crashed() const { return crashed_; }  // marked when opened
  // A new run id, `<kind><n>` (kind g or c), unique across the hosts of the store. May block for
  // one small write transaction (waiting for another host's, if any): not for a loop thread.
  // Thread-safe.
  std::string allocate_id(char kind);

  void put(StoredRun run);          // queued
  void put(const RunEvent& event);  // queued
  void put(LedgerRow row);          // queued
  void flush();                     // waits until everything queued so far is written

  std::optional<RunSnapshot> load(const std::string& id);
  std::optional<RunState> state(const std::string& id);  // without loading the run
  std::vector<RunEvent> events(const std::string& id);
  std::map<LedgerKey, Json> ledger(const std::string& id);
  size_t count();
  uint64_t bytes_in_use();  // pages in use (the file may be larger: freed pages are reused)
  // Makes this host the owner of finished runs `ids` again (to resume them) and marks them
  // PENDING, in one write transaction; returns those it took (not one that is unfinished: another
  // host took it first). Blocks like allocate_id.
  std::set<std::string> adopt(const std::vector<std::string>& ids);

 private:
  void write_loop();
  using Item = std::variant<StoredRun, RunEvent, LedgerRow>;
  void write_or_say(std::deque<Item>& batch);
  void write(std::deque<Item>& batch);
  bool write_head(const RunSnapshot& head);
  void write_steps(const StoredRun& run);
  void write_item(const Item& item);
  int64_t next_ledger_key(const std::string& run);
  void apply_retention();
  void delete_runs(const std::vector<std::string>& ids);
  void bound_size();
  void enqueue(Item item);
  static std::string host_identity();
  // Runs some host still has to finish (a WHERE clause).
  static constexpr const char* kUnfinished = "state NOT IN ('DONE', 'FAILED', 'CANCELLED', 'CRASHED')";
  void hold_host_lock();
  bool host_alive(const std::string& owner) const;
  void mark_crashed();
  int64_t reserve_ids(const char* kind, int64_t n);  // the last of n new ids
  void return_unused_ids();

  // Ids taken from the counter and not handed out yet: (next, end].
  struct IdBlock {
    int64_t next = 0, end = 0, size = 0, taken_ns = 0;
  };
  static constexpr int64_t kMaxIdBlock = 1024;

  struct Writes;  // the writer's prepared statements
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<Writes> writes_;
  struct Reads;  // the readers' prepared statements
  std::unique_ptr<Reads> reads_;
  size_t retention_;
  uint64_t max_bytes_;
  std::string owner_;  // this host: <pid>-<start time>
  std::filesystem::path hosts_;
  int lock_fd_ = -1;
  std::vector<std::string> crashed_;
  std::mutex ids_mu_;         // guards ids_ (taken before db_mu_)
  IdBlock ids_[2];            // graph runs', chain runs'
  std::mutex mu_;             // guards the queue and the counts
  mutable std::mutex db_mu_;  // guards the database (the writer, readers)
  std::condition_variable wake_, written_;
  std::deque<Item> queue_;
  uint64_t queued_ = 0, done_ = 0;
  int flushing_ = 0;                         // threads in flush(): no group-commit wait
  static constexpr size_t kGroup = 256;      // a batch this large is written at once
  static constexpr size_t kMaxBatch = 4096;  // items in one transaction at most
  bool stop_ = false;
  // The writer's: runs' last ledger entry numbers, and the unfinished runs whose head it wrote
  // (their steps are written; another host's are not).
  std::unordered_map<int64_t, int64_t> ledger_seq_;
  std::unordered_set<std::string> owned_;
  std::thread writer_;
};

}  // namespace skein::runtime
