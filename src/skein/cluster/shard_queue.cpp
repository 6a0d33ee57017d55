#include "shard_queue.hpp"

namespace skein::cluster {
namespace {

// Made once per database, when missing: CREATE INDEX IF NOT EXISTS would lock the shards against
// writes even when the index exists. The advisory lock keeps processes that start together from
// racing on the catalog (CREATE … IF NOT EXISTS is not safe against a concurrent one).
const char* const kSchemaMissing =
    "SELECT to_regclass('skein_shard_outputs') IS NULL OR to_regclass('skein_shards_open') IS NULL"
    " OR to_regclass('skein_responses') IS NULL";
const char* const kSchema = R"(
SELECT pg_advisory_xact_lock(7368207);
CREATE TABLE IF NOT EXISTS skein_runs (
  id text PRIMARY KEY,
  chain_text text NOT NULL,
  chain_hash text NOT NULL,
  options jsonb NOT NULL,
  state text NOT NULL DEFAULT 'running',
  error text,
  shards int NOT NULL DEFAULT 0,
  lines bigint NOT NULL DEFAULT 0,
  created timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS skein_shards (
  run text NOT NULL REFERENCES skein_runs(id) ON DELETE CASCADE,
  shard int NOT NULL,
  first_line bigint NOT NULL,
  first_row bigint NOT NULL,
  lines int NOT NULL,
  input bytea NOT NULL,
  state text NOT NULL DEFAULT 'ready',
  attempt int NOT NULL DEFAULT 0,
  worker text,
  lease_until timestamptz,
  done_at timestamptz,
  errors text,
  counts jsonb,
  PRIMARY KEY (run, shard));
CREATE INDEX IF NOT EXISTS skein_shards_open ON skein_shards (run, shard) WHERE state IN ('ready', 'running');
CREATE TABLE IF NOT EXISTS skein_shard_outputs (
  run text NOT NULL,
  shard int NOT NULL,
  node text NOT NULL,
  lines text NOT NULL,
  PRIMARY KEY (run, shard, node),
  FOREIGN KEY (run, shard) REFERENCES skein_shards(run, shard) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS skein_responses (
  key text PRIMARY KEY,
  reply bytea NOT NULL,
  created timestamptz NOT NULL DEFAULT now());
)";

// A value in COPY's text format: backslash, newline, carriage return and tab escaped.
void copy_escape(const std::string& s, std::string& out) {
  for (char c : s) switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
}

// Bytes as a bytea value in COPY's text format (its backslash escaped). The input is bytes, not
// text: a line that is not UTF-8 (or holds a NUL) becomes an error record, as locally.
void copy_bytea(const std::string& bytes, std::string& out) {
  out += '\\';
  out += pg::bytea_text(bytes);
}

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()); }

// `UPDATE skein_shards s SET … <kHeld>`: the shard ($1, $2) at attempt $3, running with its lease
// not run out when the statement starts, of a running run. What heartbeats and commits are fenced by.
const std::string kHeld = R"(
  FROM skein_runs r
 WHERE r.id = s.run AND r.state = 'running'
   AND s.run = $1 AND s.shard = $2 AND s.attempt = $3 AND s.state = 'running'
   AND s.lease_until >= statement_timestamp())";

std::vector<pg::Param> held(const Claim& c) { return {c.run, std::to_string(c.shard), std::to_string(c.attempt)}; }

}  // namespace

void ensure_schema(pg::Connection& db) {
  if (db.exec(kSchemaMissing).text(0, 0) == "t") db.transaction([&] { db.exec(kSchema); });
}

ShardQueue::ShardQueue(const std::string& url) : db_(url) { ensure_schema(db_); }

int ShardQueue::submit(const RunSpec& spec, std::istream& input, int shard_size) {
  if (shard_size < 1) throw InvalidArgumentError("the shard size must be at least 1");
  long long lines = 0;
  return submit(spec, [&]() -> std::optional<ShardInput> {
    ShardInput s{lines + 1, lines, 0, {}};
    for (std::string line; s.lines < shard_size && std::getline(input, line);) {
      if (s.lines++) s.text += '\n';
      s.text += line;
    }
    lines += s.lines;
    return s.lines ? std::optional(std::move(s)) : std::nullopt;
  });
}

int ShardQueue::submit(const RunSpec& spec, const std::function<std::optional<ShardInput>()>& next) {
  int shards = 0;
  long long lines = 0;
  db_.transaction([&] {
    try {
      db_.exec("INSERT INTO skein_runs (id, chain_text, chain_hash, options) VALUES ($1, $2, $3, $4)",
               {spec.id, spec.chain_text, spec.chain_hash, spec.options.dump()});
    } catch (const pg::Error& e) {
      if (e.sqlstate() == "23505") throw AlreadyExistsError("a cluster run " + spec.id + " exists already");
      throw;
    }
    // One COPY row per shard, sent as it is cut.
    db_.copy_in("COPY skein_shards (run, shard, first_line, first_row, lines, input) FROM STDIN",
                [&](std::string& chunk) {
                  std::optional<ShardInput> s = next();
                  if (!s) return false;
                  copy_escape(spec.id, chunk);
                  chunk += '\t' + std::to_string(shards++) + '\t' + std::to_string(s->first_line) + '\t' +
                           std::to_string(s->first_row) + '\t' + std::to_string(s->lines) + '\t';
                  copy_bytea(s->text, chunk);
                  chunk += '\n';
                  lines += s->lines;
                  return true;
                });
    db_.exec("UPDATE skein_runs SET shards = $2, lines = $3 WHERE id = $1",
             {spec.id, std::to_string(shards), std::to_string(lines)});
    db_.exec("SELECT pg_notify('skein_work', $1)", {spec.id});  // wakes idle workers at the commit
  });
  return shards;
}

std::optional<RunSpec> ShardQueue::run(const std::string& id) {
  pg::Result r = db_.exec("SELECT chain_text, chain_hash, options::text FROM skein_runs WHERE id = $1", {id});
  if (r.rows() == 0) return std::nullopt;
  return RunSpec{id, r.text(0, 0), r.text(0, 1), Json::parse(r.text(0, 2))};
}

std::optional<Claim> ShardQueue::claim(const std::string& worker, std::chrono::milliseconds lease,
                                       const std::string& only_run) {
  pg::Result r = db_.exec(R"(
UPDATE skein_shards s
   SET state = 'running', attempt = s.attempt + 1, worker = $1,
       lease_until = statement_timestamp() + $2 * interval '1 millisecond'
  FROM (SELECT sh.run, sh.shard FROM skein_shards sh JOIN skein_runs r ON r.id = sh.run
         WHERE r.state = 'running' AND ($3 = '' OR sh.run = $3)
           AND (sh.state = 'ready' OR (sh.state = 'running' AND sh.lease_until < statement_timestamp()))
         ORDER BY r.created, sh.run, sh.shard
         LIMIT 1 FOR UPDATE OF sh SKIP LOCKED) pick
 WHERE s.run = pick.run AND s.shard = pick.shard
RETURNING s.run, s.shard, s.attempt, s.first_line, s.lines, s.first_row)",
                          {worker, ms(lease), only_run});
  if (r.rows() == 0) return std::nullopt;
  return Claim{r.text(0, 0),    int(r.integer(0, 1)), int(r.integer(0, 2)),
               r.integer(0, 3), int(r.integer(0, 4)), r.integer(0, 5)};
}

bool ShardQueue::heartbeat(const Claim& c, std::chrono::milliseconds lease) {
  std::vector<pg::Param> params = held(c);
  params.push_back(ms(lease));
  return db_.exec(
                "UPDATE skein_shards s SET lease_until = statement_timestamp() + $4 * interval '1 millisecond'" + kHeld,
                params)
             .affected() == 1;
}

std::string ShardQueue::input_text(const Claim& c) {
  pg::Result r = db_.exec("SELECT encode(input, 'hex') FROM skein_shards WHERE run = $1 AND shard = $2",
                          {c.run, std::to_string(c.shard)});
  return r.rows() ? pg::from_hex(r.text(0, 0)) : std::string();
}

std::vector<std::string> ShardQueue::input(const Claim& c) {
  std::vector<std::string> lines;
  const std::string text = input_text(c);
  size_t from = 0;
  for (int i = 0; i < c.lines; ++i) {
    const size_t to = std::min(text.find('\n', from), text.size());
    lines.push_back(text.substr(from, to - from));
    from = to + 1;
  }
  return lines;
}

Commit ShardQueue::commit(const Claim& c, const ShardResult& result) {
  struct Fenced {};
  try {
    db_.transaction([&] {
      // The fence: this attempt, still leased, of a running run. The row stays locked until the
      // commit, so no claim takes the shard meanwhile.
      std::vector<pg::Param> params = held(c);
      params.push_back(result.errors);
      params.push_back(result.counts.dump());
      const long long taken =
          db_.exec(
                 "UPDATE skein_shards s SET state = 'done', done_at = now(), lease_until = NULL, errors = $4, "
                 "counts = $5" +
                     kHeld,
                 params)
              .affected();
      if (taken != 1) throw Fenced{};
      for (const auto& [node, lines] : result.outputs)
        db_.exec("INSERT INTO skein_shard_outputs (run, shard, node, lines) VALUES ($1, $2, $3, $4)",
                 {c.run, std::to_string(c.shard), node, lines});
    });
  } catch (const Fenced&) {
    return Commit::fenced;
  }
  return Commit::done;
}

bool ShardQueue::fail(const Claim& c, const std::string& message, int max_attempts) {
  bool run_failed = false;
  db_.transaction([&] {
    std::vector<pg::Param> params = held(c);
    const bool last = c.attempt >= max_attempts;
    if (db_.exec("UPDATE skein_shards s SET state = '" + std::string(last ? "cancelled" : "ready") +
                     "', lease_until = NULL" + kHeld,
                 params)
            .affected() != 1)
      return;  // no longer this attempt's: another may still finish it
    if (!last) return;
    db_.exec("UPDATE skein_runs SET state = 'failed', error = $2 WHERE id = $1", {c.run, message});
    db_.exec("UPDATE skein_shards SET state = 'cancelled' WHERE run = $1 AND state IN ('ready', 'running')", {c.run});
    db_.exec("SELECT pg_notify('skein_cancel', $1)", {c.run});  // the run's other shards stop
    run_failed = true;
  });
  return run_failed;
}

void ShardQueue::listen(const std::string& channel) { db_.exec("LISTEN " + channel); }

bool ShardQueue::cancel(const std::string& run) {
  bool cancelled = false;
  db_.transaction([&] {
    // Its open shards first leave the claimable set (and the index that serves claims). A commit in
    // flight holds its shard's row: this waits for it and then passes the shard by as done.
    if (db_.exec("UPDATE skein_shards SET state = 'cancelled' WHERE run = $1 AND state IN ('ready', 'running')", {run})
            .affected() == 0)
      return;  // every shard committed: the run is done, not cancelled
    db_.exec("UPDATE skein_runs SET state = 'cancelled' WHERE id = $1 AND state = 'running'", {run});
    db_.exec("SELECT pg_notify('skein_cancel', $1)", {run});
    cancelled = true;
  });
  return cancelled;
}

namespace {

// Runs with their shards' progress; `where` picks them (on r, the run).
std::vector<RunProgress> progress_of(pg::Connection& db, const std::string& where,
                                     const std::vector<pg::Param>& params) {
  pg::Result r = db.exec(R"(
SELECT r.id, r.state, coalesce(r.error, ''), r.shards, r.lines,
       count(s.shard) FILTER (WHERE s.state = 'ready' OR (s.state = 'running' AND s.lease_until < now())),
       count(s.shard) FILTER (WHERE s.state = 'running' AND s.lease_until >= statement_timestamp()),
       count(s.shard) FILTER (WHERE s.state = 'done'),
       coalesce(sum(s.lines) FILTER (WHERE s.state = 'done'), 0),
       coalesce(sum(greatest(s.attempt - 1, 0)), 0)
  FROM skein_runs r LEFT JOIN skein_shards s ON s.run = r.id
 WHERE )" + where + " GROUP BY r.id ORDER BY r.created DESC, r.id",
                         params);
  std::vector<RunProgress> out(size_t(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    RunProgress& p = out[size_t(i)];
    p.id = r.text(i, 0);
    p.state = parse_enum<ChainStatus>(r.text(i, 1), "cluster run state");
    p.error = r.text(i, 2);
    p.shards = int(r.integer(i, 3));
    p.lines = r.integer(i, 4);
    p.ready = int(r.integer(i, 5));
    p.running = int(r.integer(i, 6));
    p.done = int(r.integer(i, 7));
    p.lines_done = r.integer(i, 8);
    p.retries = int(r.integer(i, 9));
    if (p.state == ChainStatus::running && p.done == p.shards) p.state = ChainStatus::done;
  }
  return out;
}

}  // namespace

RunProgress ShardQueue::progress(const std::string& run) {
  std::vector<RunProgress> p = progress_of(db_, "r.id = $1", {run});
  if (p.empty()) throw NotFoundError("no cluster run " + run);
  return p.front();
}

std::vector<RunProgress> ShardQueue::runs() { return progress_of(db_, "true", {}); }

std::optional<ShardResult> ShardQueue::result(const std::string& run, int shard) {
  const std::string n = std::to_string(shard);
  pg::Result head = db_.exec(
      "SELECT errors, counts::text FROM skein_shards WHERE run = $1 AND shard = $2 AND state = 'done'", {run, n});
  if (head.rows() == 0) return std::nullopt;
  ShardResult out;
  out.errors = head.text(0, 0);
  out.counts = Json::parse(head.text(0, 1));
  pg::Result outputs =
      db_.exec("SELECT node, lines FROM skein_shard_outputs WHERE run = $1 AND shard = $2 ORDER BY node", {run, n});
  for (int i = 0; i < outputs.rows(); ++i) out.outputs.emplace_back(outputs.text(i, 0), outputs.text(i, 1));
  return out;
}

std::optional<std::vector<ShardResult>> ShardQueue::results(const std::string& run) {
  const RunProgress p = progress(run);
  if (p.state != ChainStatus::done) return std::nullopt;
  std::vector<ShardResult> out;
  for (int shard = 0; shard < p.shards; ++shard) out.push_back(*result(run, shard));
  return out;
}

}  // namespace skein::cluster
