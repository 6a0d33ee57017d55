#include "pg_run_store.hpp"

#include <fmt/format.h>

#include <functional>
#include <iostream>
#include <thread>
#include <unordered_map>

#include "pg_run_store_parts.hpp"

namespace skein::cluster {

namespace {

using runtime::kUnfinished;
using Batch = runtime::StoreQueue::Batch;

// Rows of this host's runs only ($2: this host): a run adopted by another host takes no more rows
// from this one.
const char* const kOwnRun = " WHERE x.run IN (SELECT id FROM skein_store_runs WHERE owner = $2)";

}  // namespace

PgRunStore::PgRunStore(std::string url, size_t retention, uint64_t max_bytes, std::chrono::milliseconds keep_every)
    : QueuedRunStore([this](const char* counter, int64_t n) { return reserve_ids(counter, n); }),
      url_(std::move(url)),
      retention_(retention),
      keep_every_(keep_every),
      owner_(owner_name()) {
  if (max_bytes)
    throw InvalidArgumentError(
        "a PostgreSQL run store is bounded by --retention: a bound on its size (--max-store-mb) is the SQLite "
        "store's only");
  connect_keeper();
  crashed_ = mark_gone();
  start_writer("skein-pg-store", [this](Batch& batch) { write_or_say(batch); });
  keeper_ = std::thread([this] { keep(); });
}

PgRunStore::~PgRunStore() {
  {
    std::lock_guard l(keep_mu_);
    stopping_ = true;
  }
  keep_wake_.notify_all();
  keeper_.join();
  stop_writer();
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
      for (size_t i = 0; i < items.size(); ++i) rows[{id, part, from + i}] = step_text(items[i]);
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
                        {"kind", to_string(r->head.kind)},
                        {"number", std::stoll(r->head.id.substr(1))},
                        {"state", to_string(r->head.state)},
                        {"body", dumped(to_json(r->head))}});
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
                          {"kind", to_string(l->key.kind)},
                          {"key", l->key.key},
                          {"body", dumped(l->value)}});
    if (!events.empty()) {
      Json rows = Json::array();
      for (const auto& [k, e] : events)
        rows.push_back({{"run", e->run},
                        {"seq", e->seq},
                        {"t_ns", e->t_ns},
                        {"kind", to_string(e->kind)},
                        {"data", dumped(e->data)}});
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

}  // namespace skein::cluster
