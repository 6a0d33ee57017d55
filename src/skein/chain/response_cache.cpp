#include "response_cache.hpp"

#include <cstdlib>

#include "skein/chain.hpp"
#include "skein/error.hpp"
#include "skein/sha256.hpp"
#include "util/sqlite.hpp"

namespace skein {

ResponseCache::ResponseCache(const std::filesystem::path& file)
    : db_(std::make_unique<SqliteDb>(file, "response cache")) {
  db_->exec(
      "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, text TEXT NOT NULL,"
      " created INTEGER NOT NULL DEFAULT (unixepoch()))");
}

ResponseCache::~ResponseCache() = default;

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

boost::asio::awaitable<std::optional<std::string>> ResponseCache::lookup(std::string key) {
  Statement q(*db_, "SELECT text FROM responses WHERE key = ?1");
  q.bind(1, key);
  if (!q.step()) co_return std::nullopt;
  co_return q.text(0);
}

void ResponseCache::keep(std::string key, std::string text) {
  Statement q(*db_, "INSERT OR REPLACE INTO responses (key, text) VALUES (?1, ?2)");
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
