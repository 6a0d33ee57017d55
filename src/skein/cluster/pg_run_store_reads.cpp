// The PostgreSQL run store's readers (see pg_run_store.hpp), on the session connection: a run (its
// head and steps as of one moment), its state, events and ledger, the latest runs, the counts.
#include "pg_run_store_parts.hpp"

namespace skein::cluster {

namespace {

const char* const kParts[] = {"trace", "nodes", "deps"};

// A run's head as stored: its body, with the state (and a crash's error) of its columns over it
// (columns `state, crash_error, body` from `col`).
Json head_body(const pg::Result& r, int row, int col) {
  Json body = Json::parse(r.text(row, col + 2));
  body["state"] = r.text(row, col);
  if (!r.null(row, col + 1)) body["error"] = r.text(row, col + 1);
  return body;
}

}  // namespace

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
    RunSnapshot run = run_from_json(body);
    runtime::settle_loaded(run);
    return run;
  });
}

std::optional<RunState> PgRunStore::state(const std::string& id) {
  return on_session([&](pg::Connection& db) -> std::optional<RunState> {
    const pg::Result r = db.exec("SELECT state FROM skein_store_runs WHERE id = $1", {id});
    if (r.rows() == 0) return std::nullopt;
    return parse_enum<RunState>(r.text(0, 0), "run state");
  });
}

std::vector<RunEvent> PgRunStore::events(const std::string& id) {
  return on_session([&](pg::Connection& db) {
    const pg::Result r =
        db.exec("SELECT seq, t_ns, kind, data FROM skein_store_events WHERE run = $1 ORDER BY seq", {id});
    std::vector<RunEvent> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back({id, uint64_t(r.integer(i, 0)), r.integer(i, 1),
                     parse_enum<RunEventKind>(r.text(i, 2), "event kind"), Json::parse(r.text(i, 3))});
    return out;
  });
}

std::map<LedgerKey, Json> PgRunStore::ledger(const std::string& id) {
  return on_session([&](pg::Connection& db) {
    const pg::Result r =
        db.exec("SELECT node, kind, key, body FROM skein_store_ledger WHERE run = $1 ORDER BY seq", {id});
    std::map<LedgerKey, Json> out;  // a key recorded again: the later entry
    for (int i = 0; i < r.rows(); ++i)
      out[LedgerKey{r.integer(i, 0), parse_enum<LedgerKind>(r.text(i, 1), "ledger kind"), r.text(i, 2)}] =
          Json::parse(r.text(i, 3));
    return out;
  });
}

std::vector<RunSnapshot> PgRunStore::recent(size_t limit) {
  return on_session([&](pg::Connection& db) {
    const pg::Result r = db.exec("SELECT state, crash_error, body FROM skein_store_runs ORDER BY created DESC LIMIT $1",
                                 {std::to_string(limit)});
    std::vector<RunSnapshot> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back(run_from_json(head_body(r, i, 0)));  // heads only: their tokens as of the head
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
