#include "run_store.hpp"

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
    " body TEXT NOT NULL, PRIMARY KEY (run, part, idx));";

uint64_t number_of(const std::string& id) { return id.size() > 1 ? std::stoull(id.substr(1)) : 0; }

}  // namespace

RunStore::RunStore(const std::filesystem::path& file, size_t retention)
    : db_(std::make_unique<SqliteDb>(file, "run store")), retention_(retention) {
  db_->exec(kSchema);
  Statement q(*db_, "SELECT id FROM runs WHERE state NOT IN ('DONE', 'FAILED', 'CANCELLED', 'CRASHED')");
  while (q.step()) crashed_.push_back(q.text(0));
  db_->exec(
      "UPDATE runs SET state = 'CRASHED', body = json_set(body, '$.state', 'CRASHED',"
      " '$.error', 'Skein stopped while the run was unfinished')"
      " WHERE state NOT IN ('DONE', 'FAILED', 'CANCELLED', 'CRASHED')");
  writer_ = std::thread([this] { write_loop(); });
}

RunStore::~RunStore() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

uint64_t RunStore::highest(char kind) const {
  std::lock_guard d(db_mu_);
  Statement q(*db_, "SELECT max(number) FROM runs WHERE kind = ?1");
  q.bind(1, std::string(kind == 'g' ? "graph" : "chain"));
  return q.step() ? uint64_t(q.integer(0)) : 0;
}

void RunStore::put(StoredRun run) {
  {
    std::lock_guard l(mu_);
    queue_.emplace_back(std::move(run));
    ++queued_;
  }
  wake_.notify_one();
}

void RunStore::put(const RunEvent& event) {
  {
    std::lock_guard l(mu_);
    queue_.emplace_back(event);
    ++queued_;
  }
  wake_.notify_one();
}

void RunStore::flush() {
  std::unique_lock l(mu_);
  const uint64_t target = queued_;
  written_.wait(l, [&] { return done_ >= target; });
}

void RunStore::write_loop() {
  std::unique_lock l(mu_);
  for (;;) {
    wake_.wait(l, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) return;
    std::deque<std::variant<StoredRun, RunEvent>> batch;
    batch.swap(queue_);
    l.unlock();  // put() goes on while the batch is written
    {
      std::lock_guard d(db_mu_);
      write(batch);
    }
    l.lock();
    done_ += batch.size();
    written_.notify_all();
  }
}

void RunStore::write_run(const StoredRun& r) {
  const RunSnapshot& h = r.head;
  Statement run(*db_,
                "INSERT INTO runs (id, kind, number, state, body) VALUES (?1, ?2, ?3, ?4, ?5)"
                " ON CONFLICT(id) DO UPDATE SET state = ?4, body = ?5, updated = unixepoch()");
  run.bind(1, h.id).bind(2, h.kind).bind(3, int64_t(number_of(h.id)));
  run.bind(4, std::string(state_name(h.state))).bind(5, to_json(h).dump());
  run.step();
  if (r.all) {
    Statement clear(*db_, "DELETE FROM steps WHERE run = ?1");
    clear.bind(1, h.id).step();
  }
  Statement step(*db_, "INSERT OR REPLACE INTO steps (run, part, idx, body) VALUES (?1, ?2, ?3, ?4)");
  auto rows = [&](const std::string& part, size_t from, const auto& items) {
    for (size_t i = 0; i < items.size(); ++i) {
      step.bind(1, h.id).bind(2, part).bind(3, int64_t(from + i)).bind(4, to_json(items[i]).dump());
      step.step();
      step.reset();
    }
  };
  rows("trace", r.trace_from, r.trace);
  rows("nodes", r.nodes_from, r.nodes);
  rows("deps", r.deps_from, r.deps);
}

void RunStore::write(std::deque<std::variant<StoredRun, RunEvent>>& batch) {
  db_->exec("BEGIN");
  Statement event(*db_, "INSERT OR REPLACE INTO events (run, seq, t_ns, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)");
  for (const auto& item : batch) {
    if (const auto* r = std::get_if<StoredRun>(&item)) {
      write_run(*r);
    } else {
      const auto& e = std::get<RunEvent>(item);
      event.bind(1, e.run).bind(2, int64_t(e.seq)).bind(3, e.t_ns).bind(4, e.kind).bind(5, e.data.dump());
      event.step();
      event.reset();
    }
  }
  // Retention: the oldest runs beyond the limit go, with their events.
  Statement old(*db_, "SELECT id FROM runs ORDER BY rowid DESC LIMIT -1 OFFSET ?1");
  old.bind(1, int64_t(retention_));
  std::vector<std::string> gone;
  while (old.step()) gone.push_back(old.text(0));
  for (const auto& id : gone) {
    Statement d1(*db_, "DELETE FROM runs WHERE id = ?1");
    d1.bind(1, id).step();
    Statement d2(*db_, "DELETE FROM events WHERE run = ?1");
    d2.bind(1, id).step();
    Statement d3(*db_, "DELETE FROM steps WHERE run = ?1");
    d3.bind(1, id).step();
  }
  db_->exec("COMMIT");
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

std::vector<RunEvent> RunStore::events(const std::string& id) {
  std::lock_guard d(db_mu_);
  Statement q(*db_, "SELECT seq, t_ns, kind, data FROM events WHERE run = ?1 ORDER BY seq");
  q.bind(1, id);
  std::vector<RunEvent> out;
  while (q.step()) out.push_back({id, uint64_t(q.integer(0)), q.integer(1), q.text(2), Json::parse(q.text(3))});
  return out;
}

size_t RunStore::count() {
  std::lock_guard d(db_mu_);
  Statement q(*db_, "SELECT count(*) FROM runs");
  return q.step() ? size_t(q.integer(0)) : 0;
}

}  // namespace skein::runtime
