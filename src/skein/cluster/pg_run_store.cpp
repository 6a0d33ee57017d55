#include "pg_run_store.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <functional>
#include <iostream>
#include <thread>
#include <unordered_map>

#include "runtime/run_json.hpp"

namespace skein::cluster {

namespace {

using runtime::dumped;
using runtime::kUnfinished;
using Batch = runtime::StoreQueue::Batch;

// Made once per database, when missing, under the advisory lock the cluster's schema is made under
// (CREATE … IF NOT EXISTS is not safe against a concurrent one). A run's rows are keyed by its id;
// `created` orders runs for retention and listing.
const char* const kSchemaMissing = "SELECT to_regclass('skein_store_runs_unfinished') IS NULL";
const char* const kSchema = R"(
SELECT pg_advisory_xact_lock(7368207);
CREATE TABLE IF NOT EXISTS skein_store_runs (
  id text PRIMARY KEY,
  kind text NOT NULL,
  number bigint NOT NULL,
  state text NOT NULL,
  crash_error text,
  body text NOT NULL,
  owner text,
  created bigserial,
  updated timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS skein_store_runs_created ON skein_store_runs (created);
CREATE INDEX IF NOT EXISTS skein_store_runs_unfinished ON skein_store_runs (owner)
  WHERE state NOT IN ('DONE', 'FAILED', 'CANCELLED', 'CRASHED');
CREATE TABLE IF NOT EXISTS skein_store_steps (
  run text NOT NULL, part smallint NOT NULL, idx integer NOT NULL, body text NOT NULL,
  PRIMARY KEY (run, part, idx));
CREATE TABLE IF NOT EXISTS skein_store_events (
  run text NOT NULL, seq bigint NOT NULL, t_ns bigint NOT NULL, kind text NOT NULL, data text NOT NULL,
  PRIMARY KEY (run, seq));
CREATE TABLE IF NOT EXISTS skein_store_ledger (
  run text NOT NULL, seq bigserial, node bigint NOT NULL, kind text NOT NULL, key text NOT NULL,
  body text NOT NULL, PRIMARY KEY (run, seq));
CREATE TABLE IF NOT EXISTS skein_store_counters (kind text PRIMARY KEY, last bigint NOT NULL);
CREATE SEQUENCE IF NOT EXISTS skein_store_host_keys AS integer;
CREATE TABLE IF NOT EXISTS skein_store_hosts (
  owner text PRIMARY KEY, key integer NOT NULL, seen timestamptz NOT NULL DEFAULT now());
)";

// A store connection's server-side bounds: the server finds a client that vanished without closing
// its connection in about 25 s over TCP (instead of the system's two hours), ends a transaction left
// open for a minute, and so releases the locks (and the host lock) of a connection that is gone.
const char* const kSettings =
    "SET idle_in_transaction_session_timeout = '60s'; SET tcp_keepalives_idle = 10;"
    " SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3; SET tcp_user_timeout = 30000";
// The writer's and the keeper's statements wait at most 30 s for a row lock (then they are tried again).
const char* const kLockTimeout = "SET lock_timeout = '30s'";

// Hosts hold a session-level advisory lock on the pair (kLockSpace, their key).
constexpr int kLockSpace = 7368208;

// The owners whose host holds its lock now.
const std::string kLiveOwners = fmt::format(R"(
SELECT h.owner FROM skein_store_hosts h JOIN pg_locks l
    ON l.locktype = 'advisory' AND l.granted AND l.classid = {}::oid AND l.objid = h.key::oid AND l.objsubid = 2
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
                                            kLockSpace);

// The unfinished runs of hosts that are gone ($1: this host): not this host, nor one that holds its
// lock, nor one seen in the last kGoneAfter (it is reconnecting: a server restart, a network blip).
const std::string kOfGoneHosts = fmt::format(
    "{} AND coalesce(owner, '') <> $1 AND coalesce(owner, '') NOT IN ({}) AND coalesce(owner, '') NOT IN"
    " (SELECT owner FROM skein_store_hosts WHERE seen > now() - interval '{} seconds')",
    kUnfinished, kLiveOwners, PgRunStore::kGoneAfter.count());

// Rows of this host's runs only ($2: this host): a run adopted by another host takes no more rows
// from this one.
const char* const kOwnRun = " WHERE x.run IN (SELECT id FROM skein_store_runs WHERE owner = $2)";

const char* const kParts[] = {"trace", "nodes", "deps"};

// A run's head as stored: its body, with the state (and a crash's error) of its columns over it
// (columns `state, crash_error, body` from `col`).
Json head_body(const pg::Result& r, int row, int col) {
  Json body = Json::parse(r.text(row, col + 2));
  body["state"] = r.text(row, col);
  if (!r.null(row, col + 1)) body["error"] = r.text(row, col + 1);
  return body;
}

// This store of this process, across machines.
std::string owner_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + runtime::host_identity();
}

// A statement's parameter: a JSON array of records (json_to_recordset) or of strings.
pg::Param json_param(const Json& j) { return dumped(j); }

}  // namespace

template <typename F>
auto PgRunStore::on_session(F&& f) {
  std::lock_guard l(session_mu_);
  for (int attempt = 1;; ++attempt) {
    try {
      if (!session_) open_session();
      return f(*session_);
    } catch (const pg::Error& e) {
      if (!e.lost() || attempt == 2) throw;
      session_.reset();
    }
  }
}

PgRunStore::PgRunStore(std::string url, size_t retention, uint64_t max_bytes, std::chrono::milliseconds keep_every)
    : url_(std::move(url)),
      retention_(retention),
      keep_every_(keep_every),
      owner_(owner_name()),
      ids_([this](const char* counter, int64_t n) { return reserve_ids(counter, n); }) {
  if (max_bytes)
    throw InvalidArgumentError(
        "a PostgreSQL run store is bounded by --retention: a bound on its size (--max-store-mb) is the SQLite "
        "store's only");
  connect_keeper();
  crashed_ = mark_gone();
  queue_ = std::make_unique<runtime::StoreQueue>("skein-pg-store", [this](Batch& batch) { write_or_say(batch); });
  keeper_ = std::thread([this] { keep(); });
}

PgRunStore::~PgRunStore() {
  {
    std::lock_guard l(keep_mu_);
    stopping_ = true;
  }
  keep_wake_.notify_all();
  keeper_.join();
  queue_->stop();
  try {
    ids_.give_back([&](const char* counter, int64_t next, int64_t end) {
      on_session([&](pg::Connection& db) {
        db.exec("UPDATE skein_store_counters SET last = $1 WHERE kind = $2 AND last = $3",
                {std::to_string(next), std::string(counter), std::to_string(end)});
      });
    });
    if (keeper_db_) keeper_db_->exec("DELETE FROM skein_store_hosts WHERE owner = $1", {owner_});
  } catch (const std::exception&) {  // the database is away: the ids are skipped, the row stays
  }
}

// The session (ids, adoption, reads): connected, with its server-side bounds.
void PgRunStore::open_session() {
  session_.reset();
  auto db = std::make_unique<pg::Connection>(url_);
  db->exec(kSettings);
  session_ = std::move(db);
}

// The keeper's connection: the tables there (made by the first host), this host's key, its lock and
// its row.
void PgRunStore::connect_keeper() {
  keeper_db_.reset();
  auto db = std::make_unique<pg::Connection>(url_);
  db->exec(std::string(kSettings) + "; " + kLockTimeout);
  if (db->exec(kSchemaMissing).text(0, 0) == "t") db->transaction([&] { db->exec(kSchema); });
  if (key_ == 0) key_ = db->exec("SELECT nextval('skein_store_host_keys')").integer(0, 0);
  locked_ = false;
  keeper_db_ = std::move(db);
  hold_lock();
}

// Takes this host's lock unless it holds it (the old backend of a lost connection may hold it still,
// until the server finds it gone: then at the next keep), and says this host is alive. When it was
// not seen for long enough to be taken for gone, its runs that were marked CRASHED for it and that
// no host adopted meanwhile get their state back, as this host last wrote them.
void PgRunStore::hold_lock() {
  pg::Connection& db = *keeper_db_;
  if (!locked_)
    locked_ =
        db.exec("SELECT pg_try_advisory_lock($1, $2)", {std::to_string(kLockSpace), std::to_string(key_)}).text(0, 0) ==
        "t";
  db.exec(
      "INSERT INTO skein_store_hosts (owner, key) VALUES ($1, $2)"
      " ON CONFLICT (owner) DO UPDATE SET key = EXCLUDED.key, seen = now()",
      {owner_, std::to_string(key_)});
  const int64_t now = now_ns();
  if (last_seen_ns_ && now - last_seen_ns_ > std::chrono::nanoseconds(kGoneAfter - kKeepEvery).count()) restore_ = true;
  last_seen_ns_ = now;
  if (locked_ && restore_) {
    db.exec(
        "UPDATE skein_store_runs SET state = body::json->>'state', crash_error = NULL"
        " WHERE owner = $1 AND state = 'CRASHED' AND crash_error = $2",
        {owner_, std::string(runtime::kCrashedError)});
    restore_ = false;
  }
}

// The unfinished runs of hosts that are gone become CRASHED (returned; rows another transaction
// holds are left for the next time); then the rows of hosts gone for a minute are tidied away.
std::vector<std::string> PgRunStore::mark_gone() {
  pg::Connection& db = *keeper_db_;
  std::vector<std::string> ids;
  db.transaction([&] {
    const pg::Result r = db.exec(fmt::format("UPDATE skein_store_runs SET state = 'CRASHED', crash_error = $2,"
                                             " updated = now() WHERE id IN (SELECT id FROM skein_store_runs WHERE {}"
                                             " FOR UPDATE SKIP LOCKED) RETURNING id",
                                             kOfGoneHosts),
                                 {owner_, std::string(runtime::kCrashedError)});
    for (int i = 0; i < r.rows(); ++i) ids.push_back(r.text(i, 0));
    db.exec(fmt::format("DELETE FROM skein_store_hosts WHERE owner <> $1 AND seen < now() - interval '1 minute'"
                        " AND owner NOT IN ({})",
                        kLiveOwners),
            {owner_});
  });
  return ids;
}

// The keeper thread's: every kKeepEvery, this host's lock held (again) and its row seen, and the
// runs of hosts that died since marked CRASHED (so another host may resume them). It alone uses
// keeper_db_ while it runs, so no reader ever waits behind it.
void PgRunStore::keep() {
  std::unique_lock l(keep_mu_);
  while (!keep_wake_.wait_for(l, keep_every_, [&] { return stopping_; })) {
    l.unlock();
    try {
      try {
        if (keeper_db_) hold_lock();
      } catch (const pg::Error& e) {  // found lost now: made again at once
        if (!e.lost()) throw;
        keeper_db_.reset();
      }
      if (!keeper_db_) connect_keeper();
      mark_gone();
    } catch (const pg::Error& e) {  // the database is away, or a row held too long: next time
      if (e.lost()) keeper_db_.reset();
    } catch (const std::exception&) {
    }
    l.lock();
  }
}

int64_t PgRunStore::reserve_ids(const char* counter, int64_t n) {
  return on_session([&](pg::Connection& db) {
    return db
        .exec(
            "INSERT INTO skein_store_counters (kind, last) VALUES ($1, $2) ON CONFLICT (kind)"
            " DO UPDATE SET last = skein_store_counters.last + EXCLUDED.last RETURNING last",
            {std::string(counter), std::to_string(n)})
        .integer(0, 0);
  });
}

// Tried again after a lost connection, it also counts the runs it finds taken over by this host
// just now: the first try may have committed, its reply lost.
std::set<std::string> PgRunStore::adopt(const std::vector<std::string>& ids) {
  bool again = false;
  return on_session([&](pg::Connection& db) {
    const std::string sql =
        std::string(
            "UPDATE skein_store_runs SET owner = $2, state = 'PENDING', crash_error = NULL, updated = now()"
            " WHERE id IN (SELECT json_array_elements_text($1::json))"
            " AND (state IN ('CRASHED', 'FAILED', 'CANCELLED')") +
        (again ? " OR (owner = $2 AND state = 'PENDING' AND updated > now() - interval '1 minute'))" : ")") +
        " RETURNING id";
    again = true;
    const pg::Result r = db.exec(sql, {json_param(Json(ids)), owner_});
    std::set<std::string> taken;
    for (int i = 0; i < r.rows(); ++i) taken.insert(r.text(i, 0));
    return taken;
  });
}

// The writer thread's: each batch written in one transaction, tried again as the header says.
void PgRunStore::write_or_say(Batch& batch) {
  auto backoff = std::chrono::milliseconds(100);
  for (int attempt = 1, refusals = 0;; ++attempt) {
    std::string why;
    bool lost = false;
    try {
      if (!writer_db_) {
        auto db = std::make_unique<pg::Connection>(url_);
        db->exec(std::string(kSettings) + "; " + kLockTimeout);
        writer_db_ = std::move(db);
      }
      write(*writer_db_, batch);
      away_ = false;
      return;
    } catch (const pg::Error& e) {
      why = e.what();
      lost = e.lost();
      if (lost) writer_db_.reset();
      if (!e.transient()) ++refusals;
    } catch (const std::exception& e) {
      why = e.what();
      ++refusals;
    }
    // While the database is away, a batch after one given up has one try: runs waiting for their
    // ledger entries go on within a connect timeout, not a whole back-off each.
    if (attempt == (away_ ? 1 : kMaxAttempts) || refusals == 2) {
      away_ = lost;
      std::cerr << "skein: the run store lost " << batch.size() << " records: " << why << "\n";
      return;
    }
    std::this_thread::sleep_for(backoff);  // the writer's own thread, not a loop
    backoff = std::min(2 * backoff, std::chrono::milliseconds(5000));
  }
}

namespace {

// A batch's rows, as the JSON record sets its statements take.
struct Rows {
  Json heads = Json::array(), events = Json::array(), ledger = Json::array(), steps = Json::array();
  Json cleared = Json::array();  // runs whose stored steps are replaced
};

// The batch's steps of the runs `owned` says are this host's, each (run, part, idx) once (the latest), those before
// an `all` record of their run left out (it replaces them).
Json step_rows(const Batch& batch, const std::function<bool(const std::string&)>& owned, Json& cleared) {
  std::map<std::tuple<std::string, int, size_t>, std::string> rows;
  for (const auto& item : batch) {
    const auto* r = std::get_if<StoredRun>(&item);
    if (!r || !owned(r->head.id)) continue;
    const std::string& id = r->head.id;
    if (r->all) {
      cleared.push_back(id);
      std::erase_if(rows, [&](const auto& row) { return std::get<0>(row.first) == id; });
    }
    auto add = [&](int part, size_t from, const auto& items) {
      for (size_t i = 0; i < items.size(); ++i) rows[{id, part, from + i}] = runtime::step_text(items[i]);
    };
    add(0, r->trace_from, r->trace);
    add(1, r->nodes_from, r->nodes);
    add(2, r->deps_from, r->deps);
  }
  Json out = Json::array();
  for (auto& [k, body] : rows)
    out.push_back({{"run", std::get<0>(k)}, {"part", std::get<1>(k)}, {"idx", std::get<2>(k)}, {"body", body}});
  return out;
}

}  // namespace

void PgRunStore::write(pg::Connection& db, const Batch& batch) {
  const std::vector<const StoredRun*> heads = runtime::latest_heads(batch);
  // This attempt's word on the batch's heads: written (this host's run) or not; kept once it commits.
  std::unordered_map<std::string, bool> mine;
  auto owned = [&](const std::string& id) {
    const auto it = mine.find(id);
    return it != mine.end() ? it->second : owned_.count(id) > 0;
  };
  db.transaction([&] {
    // Heads first (never over another host's run), then steps, events and ledger entries.
    if (!heads.empty()) {
      Json rows = Json::array();
      for (const StoredRun* r : heads)
        rows.push_back({{"id", r->head.id},
                        {"kind", r->head.kind},
                        {"number", std::stoll(r->head.id.substr(1))},
                        {"state", state_name(r->head.state)},
                        {"body", dumped(runtime::to_json(r->head))}});
      const pg::Result written = db.exec(
          "INSERT INTO skein_store_runs (id, kind, number, state, body, owner)"
          " SELECT id, kind, number, state, body, $2 FROM json_to_recordset($1::json)"
          "   AS x(id text, kind text, number bigint, state text, body text)"
          " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, body = EXCLUDED.body, crash_error = NULL,"
          " updated = now()"
          " WHERE skein_store_runs.owner = EXCLUDED.owner RETURNING id",
          {json_param(rows), owner_});
      for (const StoredRun* r : heads) mine[r->head.id] = false;
      for (int i = 0; i < written.rows(); ++i) mine[written.text(i, 0)] = true;
    }
    Json cleared = Json::array();
    const Json steps = step_rows(batch, owned, cleared);
    if (!cleared.empty())
      db.exec(
          "DELETE FROM skein_store_steps WHERE run IN (SELECT json_array_elements_text($1::json))"
          " AND run IN (SELECT id FROM skein_store_runs WHERE owner = $2)",
          {json_param(cleared), owner_});
    if (!steps.empty())
      db.exec(
          std::string("INSERT INTO skein_store_steps (run, part, idx, body) SELECT * FROM json_to_recordset($1::json)"
                      "   AS x(run text, part smallint, idx integer, body text)") +
              kOwnRun + " ON CONFLICT (run, part, idx) DO UPDATE SET body = EXCLUDED.body",
          {json_param(steps), owner_});
    std::map<std::pair<std::string, uint64_t>, const RunEvent*> events;  // each once, the latest
    Json ledger = Json::array();
    for (const auto& item : batch)
      if (const auto* e = std::get_if<RunEvent>(&item))
        events[{e->run, e->seq}] = e;
      else if (const auto* l = std::get_if<LedgerRow>(&item))
        ledger.push_back({{"n", ledger.size()},
                          {"run", l->run},
                          {"node", l->key.node},
                          {"kind", l->key.kind},
                          {"key", l->key.key},
                          {"body", dumped(l->value)}});
    if (!events.empty()) {
      Json rows = Json::array();
      for (const auto& [k, e] : events)
        rows.push_back(
            {{"run", e->run}, {"seq", e->seq}, {"t_ns", e->t_ns}, {"kind", e->kind}, {"data", dumped(e->data)}});
      db.exec(
          std::string("INSERT INTO skein_store_events (run, seq, t_ns, kind, data) SELECT * FROM"
                      " json_to_recordset($1::json) AS x(run text, seq bigint, t_ns bigint, kind text, data text)") +
              kOwnRun +
              " ON CONFLICT (run, seq) DO UPDATE SET t_ns = EXCLUDED.t_ns, kind = EXCLUDED.kind, data = EXCLUDED.data",
          {json_param(rows), owner_});
    }
    if (!ledger.empty())  // in order: a key recorded again is read as its later entry
      db.exec(
          std::string("INSERT INTO skein_store_ledger (run, node, kind, key, body) SELECT run, node, kind, key, body"
                      " FROM json_to_recordset($1::json) AS x(n bigint, run text, node bigint, kind text, key text,"
                      " body text)") +
              kOwnRun + " ORDER BY n",
          {json_param(ledger), owner_});
    bool finished = false;
    for (const StoredRun* r : heads)
      if (is_finished(r->head.state)) finished = true, mine[r->head.id] = false;  // no step of it comes after
    if (finished)  // the oldest finished runs beyond retention go, with everything of theirs
      // The outer condition again: a run adopted meanwhile (PENDING now) is not deleted.
      db.exec(fmt::format("WITH gone AS (DELETE FROM skein_store_runs WHERE id IN (SELECT id FROM skein_store_runs"
                          "   WHERE NOT ({0}) ORDER BY created DESC OFFSET $1) AND NOT ({0}) RETURNING id),"
                          " s AS (DELETE FROM skein_store_steps WHERE run IN (SELECT id FROM gone)),"
                          " e AS (DELETE FROM skein_store_events WHERE run IN (SELECT id FROM gone)),"
                          " l AS (DELETE FROM skein_store_ledger WHERE run IN (SELECT id FROM gone))"
                          " SELECT count(*) FROM gone",
                          kUnfinished),
              {std::to_string(retention_)});
  });
  for (const auto& [id, ours] : mine)
    if (ours)
      owned_.insert(id);
    else
      owned_.erase(id);
}

std::optional<RunSnapshot> PgRunStore::load(const std::string& id) {
  return on_session([&](pg::Connection& db) -> std::optional<RunSnapshot> {
    Json body;
    db.transaction([&] {  // the head and its steps as of one moment
      db.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      const pg::Result head = db.exec("SELECT state, crash_error, body FROM skein_store_runs WHERE id = $1", {id});
      if (head.rows() == 0) return;
      body = head_body(head, 0, 0);
      for (const char* part : kParts) body[part] = Json::array();
      const pg::Result steps =
          db.exec("SELECT part, body FROM skein_store_steps WHERE run = $1 ORDER BY part, idx", {id});
      for (int i = 0; i < steps.rows(); ++i)
        body[kParts[steps.integer(i, 0) % 3]].push_back(Json::parse(steps.text(i, 1)));
    });
    if (body.is_null()) return std::nullopt;
    RunSnapshot run = runtime::run_from_json(body);
    runtime::settle_loaded(run);
    return run;
  });
}

std::optional<RunState> PgRunStore::state(const std::string& id) {
  return on_session([&](pg::Connection& db) -> std::optional<RunState> {
    const pg::Result r = db.exec("SELECT state FROM skein_store_runs WHERE id = $1", {id});
    if (r.rows() == 0) return std::nullopt;
    return runtime::state_from_name(r.text(0, 0));
  });
}

std::vector<RunEvent> PgRunStore::events(const std::string& id) {
  return on_session([&](pg::Connection& db) {
    const pg::Result r =
        db.exec("SELECT seq, t_ns, kind, data FROM skein_store_events WHERE run = $1 ORDER BY seq", {id});
    std::vector<RunEvent> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back({id, uint64_t(r.integer(i, 0)), r.integer(i, 1), r.text(i, 2), Json::parse(r.text(i, 3))});
    return out;
  });
}

std::map<LedgerKey, Json> PgRunStore::ledger(const std::string& id) {
  return on_session([&](pg::Connection& db) {
    const pg::Result r =
        db.exec("SELECT node, kind, key, body FROM skein_store_ledger WHERE run = $1 ORDER BY seq", {id});
    std::map<LedgerKey, Json> out;  // a key recorded again: the later entry
    for (int i = 0; i < r.rows(); ++i)
      out[LedgerKey{r.integer(i, 0), r.text(i, 1), r.text(i, 2)}] = Json::parse(r.text(i, 3));
    return out;
  });
}

std::vector<RunSnapshot> PgRunStore::recent(size_t limit) {
  return on_session([&](pg::Connection& db) {
    const pg::Result r = db.exec("SELECT state, crash_error, body FROM skein_store_runs ORDER BY created DESC LIMIT $1",
                                 {std::to_string(limit)});
    std::vector<RunSnapshot> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back(runtime::run_from_json(head_body(r, i, 0)));  // heads only: their tokens as of the head
    }
    return out;
  });
}

size_t PgRunStore::count() {
  return on_session(
      [&](pg::Connection& db) { return size_t(db.exec("SELECT count(*) FROM skein_store_runs").integer(0, 0)); });
}

uint64_t PgRunStore::bytes_in_use() {
  return on_session([&](pg::Connection& db) {
    return uint64_t(db.exec("SELECT pg_total_relation_size('skein_store_runs') + pg_total_relation_size("
                            "'skein_store_steps') + pg_total_relation_size('skein_store_events') +"
                            " pg_total_relation_size('skein_store_ledger')")
                        .integer(0, 0));
  });
}

}  // namespace skein::cluster
