// The PostgreSQL run store's hosts (see pg_run_store.hpp): the tables made by the first one, each
// host's lock and last-seen time kept by its keeper, the runs of hosts that are gone marked
// CRASHED, ids from the shared counters, and a finished run taken over by the host that resumes it.
#include <fmt/format.h>

#include "pg_run_store_parts.hpp"

namespace skein::cluster {

namespace {

using runtime::kUnfinished;

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

}  // namespace

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

}  // namespace skein::cluster
