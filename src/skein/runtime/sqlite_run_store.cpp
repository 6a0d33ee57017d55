#include "sqlite_run_store.hpp"

#include <unistd.h>

#include <sqlite3.h>
#include <iostream>

#include "run_json.hpp"
#include "sqlite_run_store_rows.hpp"
#include "util/sqlite.hpp"

namespace skein::runtime {

namespace {

// A run's steps and ledger are keyed by integers that keep each run's rows together (see
// run_key): one B-tree, integer comparisons, no index beside it.
const char* kSchema =
    "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, number INTEGER NOT NULL,"
    " state TEXT NOT NULL, body TEXT NOT NULL, updated INTEGER NOT NULL DEFAULT (unixepoch()));"
    "CREATE TABLE IF NOT EXISTS events (run TEXT NOT NULL, seq INTEGER NOT NULL, t_ns INTEGER NOT NULL,"
    " kind TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (run, seq));"
    "CREATE TABLE IF NOT EXISTS run_steps (k INTEGER PRIMARY KEY, body TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS counters (kind TEXT PRIMARY KEY, last INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS run_ledger (k INTEGER PRIMARY KEY, node INTEGER NOT NULL, kind TEXT NOT NULL,"
    " key TEXT NOT NULL, body TEXT NOT NULL);";

// Stores written before run_steps and run_ledger kept them in tables keyed by (run, part, idx) and
// (run, node, kind, key): moved over once. The SQL form of run_key, and of each row's key below it.
const char* kMigrateSteps =
    "INSERT OR REPLACE INTO run_steps (k, body) SELECT"
    " (((CAST(substr(run, 2) AS INTEGER) * 2 + (substr(run, 1, 1) = 'c')) << 24)"
    "  | ((CASE part WHEN 'trace' THEN 0 WHEN 'nodes' THEN 1 ELSE 2 END) << 22) | idx), body FROM steps;"
    "DROP TABLE steps;";
// A run with entries in both (a store opened by an older Skein again) keeps its newer ones.
const char* kMigrateLedger =
    "INSERT OR IGNORE INTO run_ledger (k, node, kind, key, body) SELECT"
    " (((CAST(substr(run, 2) AS INTEGER) * 2 + (substr(run, 1, 1) = 'c')) << 24)"
    "  | row_number() OVER (PARTITION BY run ORDER BY rowid)), node, kind, key, body FROM ledger;"
    "DROP TABLE ledger;";

bool has_table(SqliteDb& db, const char* name) {
  Statement q(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  q.bind(1, std::string(name));
  return q.step();
}

int64_t pragma(SqliteDb& db, const char* name) {
  Statement q(db, (std::string("PRAGMA ") + name).c_str());
  return q.step() ? q.integer(0) : 0;
}

uint64_t bytes_used(SqliteDb& db) {
  return uint64_t(pragma(db, "page_count") - pragma(db, "freelist_count")) * uint64_t(pragma(db, "page_size"));
}

bool has_column(SqliteDb& db, const char* table, const char* column) {
  Statement q(db, (std::string("SELECT 1 FROM pragma_table_info('") + table + "') WHERE name = ?1").c_str());
  q.bind(1, std::string(column));
  return q.step();
}

}  // namespace

// Prepared once, reused by every batch (a prepare costs more than the row it writes).
struct SqliteRunStore::Writes {
  explicit Writes(SqliteDb& db)
      : run(db,
            // Never a run of another host (ids are unique, but a resumed run's old record is not ours).
            "INSERT INTO runs (id, kind, number, state, body, owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            " ON CONFLICT(id) DO UPDATE SET state = ?4, body = ?5, updated = unixepoch() WHERE owner = ?6"),
        clear(db, "DELETE FROM run_steps WHERE k >= ?1 AND k < ?2"),
        step(db, "INSERT OR REPLACE INTO run_steps (k, body) VALUES (?1, ?2)"),
        event(db, "INSERT OR REPLACE INTO events (run, seq, t_ns, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)"),
        entry(db, "INSERT INTO run_ledger (k, node, kind, key, body) VALUES (?1, ?2, ?3, ?4, ?5)"),
        last_entry(db, "SELECT coalesce(max(k) - ?1, 0) FROM run_ledger WHERE k >= ?1 AND k < ?2") {}
  Statement run, clear, step, event, entry, last_entry;
};

namespace {
// A statement ready to bind again (also after a step that failed).
Statement& fresh(Statement& s) {
  s.reset();
  return s;
}
}  // namespace

SqliteRunStore::SqliteRunStore(const std::filesystem::path& file, size_t retention, uint64_t max_bytes)
    : QueuedRunStore([this](const char* counter, int64_t n) { return reserve_ids(counter, n); }),
      db_(std::make_unique<SqliteDb>(file, "run store")),
      retention_(retention),
      max_bytes_(max_bytes),
      owner_(host_identity()),
      hosts_(file.parent_path() / "hosts") {
  hold_host_lock();
  try {
    MutexLock d(db_mu_);  // no other thread yet: for the analysis
    db_->write_transaction([&]() SKEIN_REQUIRES(db_mu_) {
      db_->exec(kSchema);
      db_->exec("PRAGMA cache_size = -65536");  // 64 MiB: a busy store's pages stay in memory
      if (!has_column(*db_, "runs", "owner")) db_->exec("ALTER TABLE runs ADD COLUMN owner TEXT");
      if (has_table(*db_, "steps")) db_->exec(kMigrateSteps);
      if (has_table(*db_, "ledger")) db_->exec(kMigrateLedger);
      // Counters start after the runs of a store older than them.
      db_->exec("INSERT OR IGNORE INTO counters SELECT kind, max(number) FROM runs GROUP BY kind");
      mark_crashed();
    });
    writes_ = std::make_unique<Writes>(*db_);
    reads_ = std::make_unique<Reads>(*db_);
  } catch (...) {
    ::close(lock_fd_);
    throw;
  }
  start_writer("skein-store", [this](StoreQueue::Batch& batch) {
    MutexLock d(db_mu_);
    write_or_say(batch);
  });
}

SqliteRunStore::~SqliteRunStore() {
  stop_writer();
  return_unused_ids();
  std::error_code ec;
  std::filesystem::remove(hosts_ / (owner_ + ".lock"), ec);
  ::close(lock_fd_);
}

// A run's head; false when the run is not this host's (ids are unique, but a run resumed
// elsewhere is no longer ours).
bool SqliteRunStore::write_head(const RunSnapshot& h) {
  Statement& run = fresh(writes_->run);
  run.bind(1, h.id).bind(2, std::string(to_string(h.kind))).bind(3, int64_t(number_of(h.id)));
  run.bind(4, std::string(to_string(h.state))).bind(5, dumped(to_json(h)));
  run.bind(6, owner_);
  run.step();
  return sqlite3_changes(db_->handle()) == 1;
}

// A record's steps (all of the run's replaced with `all`).
void SqliteRunStore::write_steps(const StoredRun& r) {
  const std::string& id = r.head.id;
  if (r.all) fresh(writes_->clear).bind(1, first_key(id)).bind(2, end_key(id)).step();
  Statement& step = writes_->step;
  auto rows = [&](int part, size_t from, const auto& items) {
    for (size_t i = 0; i < items.size(); ++i)
      fresh(step).bind(1, step_key(id, part, from + i)).bind(2, step_text(items[i])).step();
  };
  rows(0, r.trace_from, r.trace);
  rows(1, r.nodes_from, r.nodes);
  rows(2, r.deps_from, r.deps);
}

// The key of run `id`'s next ledger entry: after its last stored one (looked up once per run).
int64_t SqliteRunStore::next_ledger_key(const std::string& id) {
  auto it = ledger_seq_.find(run_key(id));
  if (it == ledger_seq_.end()) {
    Statement& last = fresh(writes_->last_entry);
    last.bind(1, first_key(id)).bind(2, end_key(id));
    const int64_t n = last.step() ? last.integer(0) : 0;
    last.reset();  // not left active: it would hold this connection's read snapshot past the commit
    it = ledger_seq_.emplace(run_key(id), n).first;
  }
  if (it->second + 1 >= int64_t(1) << kRunShift)
    throw ResourceExhaustedError("run " + id + " has more ledger entries than the store keeps");
  return first_key(id) | ++it->second;
}

// A batch that cannot be written (the disk is full, another host held the database longer than the
// busy timeout) is tried once more, then dropped with a message: the runs go on either way.
void SqliteRunStore::write_or_say(StoreQueue::Batch& batch) {
  for (int attempt = 1;; ++attempt) {
    try {
      db_->write_transaction([&]() SKEIN_REQUIRES(db_mu_) { write(batch); });
      return;
    } catch (const std::exception& e) {
      if (attempt == 2) {
        std::cerr << "skein: the run store lost " << batch.size() << " records: " << e.what() << "\n";
        return;
      }
    }
  }
}

// Inside a write transaction (write_or_say's).
void SqliteRunStore::write(StoreQueue::Batch& batch) {
  // Each run's latest head in the batch is written first, and only that one (a run submitted and
  // started at once); then every record in order. Steps are written for this host's runs only.
  const std::vector<const StoredRun*> heads = latest_heads(batch);
  for (const StoredRun* r : heads)
    if (write_head(r->head))
      owned_.insert(r->head.id);
    else
      owned_.erase(r->head.id);
  for (const auto& item : batch) try {
      write_item(item);
    } catch (const ResourceExhaustedError& e) {  // this record only: the batch's others are written
      std::cerr << "skein: the run store skipped a record: " << e.what() << "\n";
    }
  bool finished = false;  // a run finished: retention may have something to do
  for (const StoredRun* r : heads)
    if (is_finished(r->head.state)) {
      finished = true;
      owned_.erase(r->head.id);
      ledger_seq_.erase(run_key(r->head.id));  // a resume looks it up again
    }
  if (finished) apply_retention();
}

void SqliteRunStore::write_item(const Item& item) {
  if (const auto* r = std::get_if<StoredRun>(&item)) {
    if (owned_.count(r->head.id)) write_steps(*r);
  } else if (const auto* e = std::get_if<RunEvent>(&item)) {
    Statement& event = fresh(writes_->event);
    event.bind(1, e->run).bind(2, int64_t(e->seq)).bind(3, e->t_ns).bind(4, std::string(to_string(e->kind)));
    event.bind(5, dumped(e->data)).step();
  } else {
    const auto& row = std::get<LedgerRow>(item);
    Statement& entry = fresh(writes_->entry);
    entry.bind(1, next_ledger_key(row.run))
        .bind(2, row.key.node)
        .bind(3, std::string(to_string(row.key.kind)))
        .bind(4, row.key.key);
    entry.bind(5, dumped(row.value)).step();
  }
}

// The oldest finished runs beyond `retention_` go, with everything of theirs; then, with a size
// bound, more of the oldest until the store fits it. Never an unfinished run.
void SqliteRunStore::apply_retention() {
  Statement old(
      *db_, (std::string("SELECT id FROM runs WHERE NOT (") + kUnfinished + ") ORDER BY rowid DESC LIMIT -1 OFFSET ?1")
                .c_str());
  old.bind(1, int64_t(retention_));
  std::vector<std::string> gone;
  while (old.step()) gone.push_back(old.text(0));
  delete_runs(gone);
  if (max_bytes_) bound_size();
}

// Runs and everything of theirs.
void SqliteRunStore::delete_runs(const std::vector<std::string>& ids) {
  for (const char* sql : {"DELETE FROM runs WHERE id = ?1", "DELETE FROM events WHERE run = ?1"}) {
    Statement d(*db_, sql);
    for (const auto& id : ids) {
      d.bind(1, id).step();
      d.reset();
    }
  }
  for (const char* sql :
       {"DELETE FROM run_steps WHERE k >= ?1 AND k < ?2", "DELETE FROM run_ledger WHERE k >= ?1 AND k < ?2"}) {
    Statement d(*db_, sql);
    for (const auto& id : ids) {
      d.bind(1, first_key(id)).bind(2, end_key(id)).step();
      d.reset();
    }
  }
  for (const auto& id : ids) ledger_seq_.erase(run_key(id)), owned_.erase(id);
}

// The oldest finished runs deleted, a few at a time, until the pages in use fit max_bytes_.
void SqliteRunStore::bound_size() {
  Statement oldest(*db_,
                   (std::string("SELECT id FROM runs WHERE NOT (") + kUnfinished + ") ORDER BY rowid LIMIT 8").c_str());
  for (uint64_t used = bytes_used(*db_); used > max_bytes_; used = bytes_used(*db_)) {
    std::vector<std::string> ids;
    while (oldest.step()) ids.push_back(oldest.text(0));
    oldest.reset();
    if (ids.empty()) return;  // only unfinished runs left: they are never deleted
    delete_runs(ids);
  }
}

std::vector<RunSnapshot> SqliteRunStore::recent(size_t limit) {
  MutexLock d(db_mu_);
  Statement q(*db_, "SELECT body FROM runs ORDER BY rowid DESC LIMIT ?1");
  q.bind(1, int64_t(limit));
  std::vector<RunSnapshot> out;
  while (q.step()) {
    out.push_back(run_from_json(Json::parse(q.text(0))));  // heads only: their tokens as of the head
  }
  return out;
}

uint64_t SqliteRunStore::bytes_in_use() {
  MutexLock d(db_mu_);
  return bytes_used(*db_);
}

size_t SqliteRunStore::count() {
  MutexLock d(db_mu_);
  Statement q(*db_, "SELECT count(*) FROM runs");
  return q.step() ? size_t(q.integer(0)) : 0;
}

}  // namespace skein::runtime
