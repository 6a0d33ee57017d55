// The SQLite run store's rows (see sqlite_run_store.hpp), shared by its writer and its readers: the keys of a
// run's rows in run_steps and run_ledger, and the readers' prepared statements.
#pragma once
#include <string>

#include "sqlite_run_store.hpp"
#include "util/sqlite.hpp"

namespace skein::runtime {

inline uint64_t number_of(const std::string& id) { return id.size() > 1 ? std::stoull(id.substr(1)) : 0; }

// A run's rows in run_steps and run_ledger have keys in [run_key << 24, (run_key + 1) << 24): a
// step's is | part << 22 | idx (parts trace, nodes, deps; idx < 2^22), a ledger entry's | its
// sequence number (from 1). Graph and chain runs count their ids apart: the kind is the low bit.
constexpr int kRunShift = 24, kPartShift = 22;
inline int64_t run_key(const std::string& id) { return int64_t(number_of(id) * 2 + (id[0] == 'c')); }
inline int64_t first_key(const std::string& id) { return run_key(id) << kRunShift; }
inline int64_t end_key(const std::string& id) { return (run_key(id) + 1) << kRunShift; }
inline int64_t step_key(const std::string& id, int part, size_t idx) {
  if (idx >= size_t(1) << kPartShift)
    throw ResourceExhaustedError("run " + id + " has more steps than the store keeps");
  return first_key(id) | int64_t(part) << kPartShift | int64_t(idx);
}
inline const char* const kParts[] = {"trace", "nodes", "deps"};

// The readers' statements, prepared once (used under db_mu_). Each is reset when its reader is
// done with it: a statement left active would hold its read snapshot.
struct SqliteRunStore::Reads {
  explicit Reads(SqliteDb& db)
      : head(db, "SELECT body FROM runs WHERE id = ?1"),
        steps(db, "SELECT k, body FROM run_steps WHERE k >= ?1 AND k < ?2 ORDER BY k"),
        state(db, "SELECT state FROM runs WHERE id = ?1"),
        events(db, "SELECT seq, t_ns, kind, data FROM events WHERE run = ?1 ORDER BY seq"),
        ledger(db, "SELECT node, kind, key, body FROM run_ledger WHERE k >= ?1 AND k < ?2 ORDER BY k") {}
  Statement head, steps, state, events, ledger;
};

}  // namespace skein::runtime
