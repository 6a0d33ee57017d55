#include "response_cache.hpp"

#include <sqlite3.h>

#include <cstdlib>

#include "skein/chain.hpp"
#include "skein/error.hpp"
#include "util/sha256.hpp"

namespace skein {
namespace {

// A prepared statement, finalized on every path.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw Error(std::string("response cache: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, const std::string& text) {
    sqlite3_bind_text(stmt_, i, text.data(), int(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw Error(std::string("response cache: ") + sqlite3_errmsg(db_));
    return rc == SQLITE_ROW;
  }
  std::string column(int i) {
    return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i)), sqlite3_column_bytes(stmt_, i));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string why = message ? message : "unknown error";
    sqlite3_free(message);
    throw Error("response cache: " + why);
  }
}

}  // namespace

ResponseCache::ResponseCache(const std::filesystem::path& file) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (sqlite3_open(file.c_str(), &db_) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw Error("cannot open the response cache " + file.string() + ": " + why);
  }
  sqlite3_busy_timeout(db_, 10000);
  try {
    exec(db_,
         "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
         "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, text TEXT NOT NULL,"
         " created INTEGER NOT NULL DEFAULT (unixepoch()))");
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

ResponseCache::~ResponseCache() { sqlite3_close(db_); }

std::optional<std::string> ResponseCache::key(const std::string& model_id, const GenerateRequest& request) {
  const Sampling& s = request.sampling;
  if (s.temperature > 0 && !s.seed) return std::nullopt;
  Json messages = Json::array();
  for (const auto& m : request.messages) messages.push_back({m.role, m.content});
  const Json k{{"model", model_id},
               {"messages", messages},
               {"type", request.output ? request.output->schema() : Json()},
               {"temperature", s.temperature > 0 ? s.temperature : 0.0f},
               {"top_p", s.top_p},
               {"top_k", s.top_k},
               {"max_tokens", s.max_tokens},
               {"stop", s.stop},
               {"seed", s.temperature > 0 ? Json(*s.seed) : Json()},
               {"ignore_eos", s.ignore_eos}};
  return sha256_hex(k.dump());
}

std::optional<std::string> ResponseCache::get(const std::string& key) {
  Statement q(db_, "SELECT text FROM responses WHERE key = ?1");
  q.bind(1, key);
  if (!q.step()) return std::nullopt;
  return q.column(0);
}

void ResponseCache::put(const std::string& key, const std::string& text) {
  Statement q(db_, "INSERT OR REPLACE INTO responses (key, text) VALUES (?1, ?2)");
  q.bind(1, key).bind(2, text);
  q.step();
}

std::string model_identity(const std::string& backend, const std::string& model, const std::string& extra) {
  std::string id = backend + "\n" + model + "\n" + extra;
  std::error_code ec;
  const auto size = std::filesystem::file_size(model, ec);
  if (!ec) {
    const auto time = std::filesystem::last_write_time(model, ec).time_since_epoch().count();
    id += "\n" + std::to_string(size) + "@" + std::to_string(time);
  }
  return id;
}

std::string default_response_cache() {
  std::filesystem::path dir;
  if (const char* c = std::getenv("SKEIN_CACHE"); c && *c)
    dir = c;
  else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    dir = std::filesystem::path(x) / "skein";
  else if (const char* h = std::getenv("HOME"); h && *h)
    dir = std::filesystem::path(h) / ".cache/skein";
  else
    dir = "/tmp/skein-cache";
  return (dir / "responses.sqlite").string();
}

}  // namespace skein
