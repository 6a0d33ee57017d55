// The persistent response cache: engine replies keyed by (model, messages, output type, sampling
// incl. seed), in one SQLite file (WAL) that many runs and processes can share. Only deterministic
// requests are cached (greedy, or a fixed seed): a sampled request without a seed is meant to
// differ each time.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "skein/engine.hpp"
#include "skein/response_store.hpp"

namespace skein {

class SqliteDb;

class ResponseCache final : public ResponseStore {
 public:
  // Opens or creates the file (and its folder). Throws Error.
  explicit ResponseCache(const std::filesystem::path& file);
  ~ResponseCache();
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  // The key of `request` on the model `model_id` (see model_identity), or nothing when the request
  // is not deterministic.
  static std::optional<std::string> key(const std::string& model_id, const GenerateRequest& request);

  // ResponseStore: a local file, read and written in place (see response_store.hpp).
  boost::asio::awaitable<std::optional<std::string>> lookup(std::string key) override;
  void keep(std::string key, std::string text) override;

 private:
  std::unique_ptr<SqliteDb> db_;
};

// What identifies an engine's model for the cache: backend and model, plus the size and time of a
// model file, so a regenerated file is not served stale answers.
std::string model_identity(const std::string& backend, const std::string& model, const std::string& extra = "");

}  // namespace skein
