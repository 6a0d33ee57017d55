// The SQLite run store's readers (see sqlite_run_store.hpp): a run, its state, events and ledger, each through
// a statement prepared once and reset after its reader.
#include "run_json.hpp"
#include "sqlite_run_store_rows.hpp"

namespace skein::runtime {

namespace {
// A read statement for one reader: reset before (bound again) and after (done).
struct Reading {
  explicit Reading(Statement& s) : q(s) { q.reset(); }
  ~Reading() { q.reset(); }
  Statement& q;
};
}  // namespace

std::optional<RunSnapshot> SqliteRunStore::load(const std::string& id) {
  MutexLock d(db_mu_);
  Json body;
  {
    Reading head(reads_->head);
    if (!head.q.bind(1, id).step()) return std::nullopt;
    body = Json::parse(head.q.text(0));
  }
  for (const char* part : kParts) body[part] = Json::array();
  Reading reading(reads_->steps);
  Statement& steps = reading.q.bind(1, first_key(id)).bind(2, end_key(id));
  while (steps.step()) body[kParts[(steps.integer(0) >> kPartShift) & 3]].push_back(Json::parse(steps.text(1)));
  RunSnapshot run = run_from_json(body);
  settle_loaded(run);
  return run;
}

std::optional<RunState> SqliteRunStore::state(const std::string& id) {
  MutexLock d(db_mu_);
  Reading reading(reads_->state);
  Statement& q = reading.q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return parse_enum<RunState>(q.text(0), "run state");
}

std::vector<RunEvent> SqliteRunStore::events(const std::string& id) {
  MutexLock d(db_mu_);
  Reading reading(reads_->events);
  Statement& q = reading.q.bind(1, id);
  std::vector<RunEvent> out;
  while (q.step())
    out.push_back({id, uint64_t(q.integer(0)), q.integer(1), parse_enum<RunEventKind>(q.text(2), "event kind"),
                   Json::parse(q.text(3))});
  return out;
}

std::map<LedgerKey, Json> SqliteRunStore::ledger(const std::string& id) {
  MutexLock d(db_mu_);
  Reading reading(reads_->ledger);
  Statement& q = reading.q.bind(1, first_key(id)).bind(2, end_key(id));
  std::map<LedgerKey, Json> out;  // a key recorded again: the later entry
  while (q.step())
    out[LedgerKey{q.integer(0), parse_enum<LedgerKind>(q.text(1), "ledger kind"), q.text(2)}] = Json::parse(q.text(3));
  return out;
}

}  // namespace skein::runtime
