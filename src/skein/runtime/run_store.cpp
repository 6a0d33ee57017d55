#include "run_store.hpp"

#include <unistd.h>

#include <sqlite3.h>
#include <iostream>
#include <set>

#include "run_json.hpp"
#include "util/sqlite.hpp"

namespace skein::runtime {

namespace {

const char* kSchema =
    "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, number INTEGER NOT NULL,"
    " state TEXT NOT NULL, body TEXT NOT NULL, updated INTEGER NOT NULL DEFAULT (unixepoch()));"
    "CREATE TABLE IF NOT EXISTS events (run TEXT NOT NULL, seq INTEGER NOT NULL, t_ns INTEGER NOT NULL,"
    " kind TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (run, seq));"
    "CREATE TABLE IF NOT EXISTS steps (run TEXT NOT NULL, part TEXT NOT NULL, idx INTEGER NOT NULL,"
    " body TEXT NOT NULL, PRIMARY KEY (run, part, idx));"
    "CREATE TABLE IF NOT EXISTS counters (kind TEXT PRIMARY KEY, last INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS ledger (run TEXT NOT NULL, node INTEGER NOT NULL, kind TEXT NOT NULL,"
    " key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run, node, kind, key));";

uint64_t number_of(const std::string& id) { return id.size() > 1 ? std::stoull(id.substr(1)) : 0; }

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
struct RunStore::Writes {
  explicit Writes(SqliteDb& db)
      : run(db,
            // Never a run of another host (ids are unique, but a resumed run's old record is not ours).
            "INSERT INTO runs (id, kind, number, state, body, owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            " ON CONFLICT(id) DO UPDATE SET state = ?4, body = ?5, updated = unixepoch() WHERE owner = ?6"),
        clear(db, "DELETE FROM steps WHERE run = ?1"),
        step(db, "INSERT OR REPLACE INTO steps (run, part, idx, body) VALUES (?1, ?2, ?3, ?4)"),
        event(db, "INSERT OR REPLACE INTO events (run, seq, t_ns, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)"),
        entry(db, "INSERT OR REPLACE INTO ledger (run, node, kind, key, body) VALUES (?1, ?2, ?3, ?4, ?5)") {}
  Statement run, clear, step, event, entry;
};

namespace {
// A statement ready to bind again (also after a step that failed).
Statement& fresh(Statement& s) {
  s.reset();
  return s;
}
std::string dumped(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
}  // namespace

RunStore::RunStore(const std::filesystem::path& file, size_t retention, uint64_t max_bytes)
    : db_(std::make_unique<SqliteDb>(file, "run store")),
      retention_(retention),
      max_bytes_(max_bytes),
      owner_(host_identity()),
      hosts_(file.parent_path() / "hosts") {
  hold_host_lock();
  try {
    db_->write_transaction([&] {
      db_->exec(kSchema);
      db_->exec("PRAGMA cache_size = -65536");  // 64 MiB: a busy store's pages stay in memory
      if (!has_column(*db_, "runs", "owner")) db_->exec("ALTER TABLE runs ADD COLUMN owner TEXT");
      // Counters start after the runs of a store older than them.
      db_->exec("INSERT OR IGNORE INTO counters SELECT kind, max(number) FROM runs GROUP BY kind");
      mark_crashed();
    });
    writes_ = std::make_unique<Writes>(*db_);
  } catch (...) {
    ::close(lock_fd_);
    throw;
  }
  writer_ = std::thread([this] { write_loop(); });
}

RunStore::~RunStore() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  writer_.join();
  std::error_code ec;
  std::filesystem::remove(hosts_ / (owner_ + ".lock"), ec);
  ::close(lock_fd_);
}

void RunStore::put(StoredRun run) { enqueue(std::move(run)); }
void RunStore::put(const RunEvent& event) { enqueue(event); }
void RunStore::put(LedgerRow row) { enqueue(std::move(row)); }

void RunStore::enqueue(Item item) {
  {
    std::lock_guard l(mu_);
    queue_.push_back(std::move(item));
    ++queued_;
  }
  wake_.notify_one();
}

void RunStore::flush() {
  std::unique_lock l(mu_);
  const uint64_t target = queued_;
  ++flushing_;
  wake_.notify_all();
  written_.wait(l, [&] { return done_ >= target; });
  --flushing_;
}

void RunStore::write_loop() {
  std::unique_lock l(mu_);
  for (;;) {
    wake_.wait(l, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) return;
    // Group commit: a small batch waits up to 0.5 ms for company (a transaction costs more than its
    // rows), unless someone waits for it (flush).
    if (queue_.size() < kGroup && !stop_ && !flushing_)
      wake_.wait_for(l, std::chrono::microseconds(500), [&] { return stop_ || flushing_ || queue_.size() >= kGroup; });
    std::deque<Item> batch;
    batch.swap(queue_);
    l.unlock();  // put() goes on while the batch is written
    {
      std::lock_guard d(db_mu_);
      write_or_say(batch);
    }
    for (auto& item : batch)  // durable now (or given up): the runs waiting for it go on
      if (auto* row = std::get_if<LedgerRow>(&item); row && row->committed) row->committed();
    l.lock();
    done_ += batch.size();
    written_.notify_all();
  }
}

void RunStore::write_run(const StoredRun& r) {
  const RunSnapshot& h = r.head;
  Statement& run = fresh(writes_->run);
  run.bind(1, h.id).bind(2, h.kind).bind(3, int64_t(number_of(h.id)));
  run.bind(4, std::string(state_name(h.state))).bind(5, dumped(to_json(h)));
  run.bind(6, owner_);
  run.step();
  if (sqlite3_changes(db_->handle()) == 0) return;
  if (r.all) fresh(writes_->clear).bind(1, h.id).step();
  Statement& step = writes_->step;
  auto rows = [&](const std::string& part, size_t from, const auto& items) {
    for (size_t i = 0; i < items.size(); ++i) {
      fresh(step).bind(1, h.id).bind(2, part).bind(3, int64_t(from + i));
      step.bind(4, dumped(to_json(items[i]))).step();
    }
  };
  rows("trace", r.trace_from, r.trace);
  rows("nodes", r.nodes_from, r.nodes);
  rows("deps", r.deps_from, r.deps);
}

// A batch that cannot be written (the disk is full, another host held the database longer than the
// busy timeout) is tried once more, then dropped with a message: the runs go on either way.
void RunStore::write_or_say(std::deque<Item>& batch) {
  for (int attempt = 1;; ++attempt) {
    try {
      db_->write_transaction([&] { write(batch); });
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
void RunStore::write(std::deque<Item>& batch) {
  bool finished = false;  // a run finished: retention may have something to do
  for (const auto& item : batch) {
    if (const auto* r = std::get_if<StoredRun>(&item)) {
      write_run(*r);
      finished = finished || is_finished(r->head.state);
    } else if (const auto* e = std::get_if<RunEvent>(&item)) {
      Statement& event = fresh(writes_->event);
      event.bind(1, e->run).bind(2, int64_t(e->seq)).bind(3, e->t_ns).bind(4, e->kind);
      event.bind(5, dumped(e->data)).step();
    } else {
      const auto& row = std::get<LedgerRow>(item);
      Statement& entry = fresh(writes_->entry);
      entry.bind(1, row.run).bind(2, row.key.node).bind(3, row.key.kind).bind(4, row.key.key);
      entry.bind(5, dumped(row.value)).step();
    }
  }
  if (finished) apply_retention();
}

// The oldest finished runs beyond `retention_` go, with everything of theirs; then, with a size
// bound, more of the oldest until the store fits it. Never an unfinished run.
void RunStore::apply_retention() {
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
void RunStore::delete_runs(const std::vector<std::string>& ids) {
  for (const char* sql : {"DELETE FROM runs WHERE id = ?1", "DELETE FROM events WHERE run = ?1",
                          "DELETE FROM steps WHERE run = ?1", "DELETE FROM ledger WHERE run = ?1"}) {
    Statement d(*db_, sql);
    for (const auto& id : ids) {
      d.bind(1, id).step();
      d.reset();
    }
  }
}

// The oldest finished runs deleted, a few at a time, until the pages in use fit max_bytes_.
void RunStore::bound_size() {
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

std::optional<RunSnapshot> RunStore::load(const std::string& id) {
  std::lock_guard d(db_mu_);
  Statement q(*db_, "SELECT body FROM runs WHERE id = ?1");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  Json body = Json::parse(q.text(0));
  Statement steps(*db_, "SELECT part, body FROM steps WHERE run = ?1 ORDER BY part, idx");
  steps.bind(1, id);
  std::set<std::string> seen;
  while (steps.step()) {
    const std::string part = steps.text(0);
    if (seen.insert(part).second) body[part] = Json::array();
    body[part].push_back(Json::parse(steps.text(1)));
  }
  return run_from_json(body);
}

std::optional<RunState> RunStore::state(const std::string& id) {
  std::lock_guard d(db_mu_);
  Statement q(*db_, "SELECT state FROM runs WHERE id = ?1");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return state_from_name(q.text(0));
}

std::vector<RunEvent> RunStore::events(const std::string& id) {
  std::lock_guard d(db_mu_);
  Statement q(*db_, "SELECT seq, t_ns, kind, data FROM events WHERE run = ?1 ORDER BY seq");
  q.bind(1, id);
  std::vector<RunEvent> out;
  while (q.step()) out.push_back({id, uint64_t(q.integer(0)), q.integer(1), q.text(2), Json::parse(q.text(3))});
  return out;
}

std::map<LedgerKey, Json> RunStore::ledger(const std::string& id) {
  std::lock_guard d(db_mu_);
  Statement q(*db_, "SELECT node, kind, key, body FROM ledger WHERE run = ?1");
  q.bind(1, id);
  std::map<LedgerKey, Json> out;
  while (q.step()) out[LedgerKey{q.integer(0), q.text(1), q.text(2)}] = Json::parse(q.text(3));
  return out;
}

uint64_t RunStore::bytes_in_use() {
  std::lock_guard d(db_mu_);
  return bytes_used(*db_);
}

size_t RunStore::count() {
  std::lock_guard d(db_mu_);
  Statement q(*db_, "SELECT count(*) FROM runs");
  return q.step() ? size_t(q.integer(0)) : 0;
}

}  // namespace skein::runtime
