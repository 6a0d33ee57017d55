// Where a run registry keeps its runs (SPEC §5): each run's record (state, error, input, tokens; its
// trace, node and dep timings as rows of their own, added as they come), its events and, for a
// graph run, its ledger (LM replies, dep values, gate answers), which goes with it. Two stores:
// a SQLite file under the state directory (the default, RegistryOptions::store) and a PostgreSQL
// database (skein serve --store postgresql://…), through which several machines share one history.
//
// Writes are queued: put() returns at once and a thread of the store's own writes them in batches,
// so a run's loop never waits for a disk or a network. At most `retention` finished runs are kept,
// the oldest dropped first with everything of theirs.
//
// Several processes (hosts) may use one store at once. Each run names its owner, the host that
// writes it; a host never overwrites another's run. A store that opens marks CRASHED the unfinished
// runs of the hosts that are gone (killed, crashed), and no one else's. Run ids come from a
// counter shared by the hosts, so two never take the same id.
//
// Thread-safe. What blocks: allocate_id, adopt, flush and the readers wait for the store (a write
// transaction, a read, a round trip): call them from a plain thread, never a loop.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "skein/run_registry.hpp"

namespace skein {

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

// A ledger entry of a graph run (see RunLedger); `committed` (optional) is called on the store's
// writer thread once it is in the store, or once its batch was given up.
struct LedgerRow {
  std::string run;
  LedgerKey key;
  Json value;
  std::function<void()> committed;
};

class RunStore {
 public:
  virtual ~RunStore() = default;  // writes everything queued

  virtual const std::vector<std::string>& crashed() const = 0;  // marked when opened
  // A new run id, `g<n>` for a graph run, `c<n>` for a chain run, unique across the hosts of the store.
  virtual std::string allocate_id(RunKind kind) = 0;

  virtual void put(StoredRun run) = 0;          // queued
  virtual void put(const RunEvent& event) = 0;  // queued
  virtual void put(LedgerRow row) = 0;          // queued
  virtual void flush() = 0;                     // waits until everything queued so far is written

  virtual std::optional<RunSnapshot> load(const std::string& id) = 0;
  virtual std::optional<RunState> state(const std::string& id) = 0;  // without loading the run
  virtual std::vector<RunEvent> events(const std::string& id) = 0;
  virtual std::map<LedgerKey, Json> ledger(const std::string& id) = 0;
  // The latest `limit` runs stored by any host, newest first, as heads (without their steps).
  virtual std::vector<RunSnapshot> recent(size_t limit) = 0;
  virtual size_t count() = 0;
  virtual uint64_t bytes_in_use() = 0;
  // Makes this host the owner of finished runs `ids` again (to resume them) and marks them
  // PENDING, at once; returns those it took (not one that is unfinished: another host took it
  // first).
  virtual std::set<std::string> adopt(const std::vector<std::string>& ids) = 0;
};

}  // namespace skein
