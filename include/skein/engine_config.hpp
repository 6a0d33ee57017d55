// Engine configurations, as written in the `engines:` section of a chain or graph file.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/engine.hpp"
#include "skein/error.hpp"
#include "skein/json.hpp"

namespace skein {

struct EngineConfig {
  std::string name;
  std::string backend = "llama";  // see engine_backends()
  std::string model;              // llama: a GGUF path (relative paths: to the file's folder)
  Json options = Json::object();  // backend options (llama: context, batch, threads)
  bool lazy = true;
  double keep_alive = 180;       // seconds idle before release; 0 = at once; < 0 = never
  int parallel = 4;              // concurrent requests (llama: sequence slots)
  double startup_timeout = 120;  // seconds
  size_t memory = 0;             // bytes when loaded, for the broker's budget (0: the model file's size)
  Location where;
};

// The `broker:` mapping of an engines, chain or graph file: limits for the broker that runs it.
// Unset fields leave the broker's (or the command line's) values.
struct BrokerLimits {
  std::optional<int> max_loaded;
  std::optional<size_t> memory_budget;    // bytes (the file may say `8GiB`, `512MiB`, `2GB`, `1000000`)
  std::optional<double> acquire_timeout;  // seconds
  std::optional<size_t> max_queue;
  std::optional<int> max_processes;
  // Each field set in `other` overrides this one's.
  void merge(const BrokerLimits& other);
};

// `8GiB`, `1.5 GB`, `512MiB`, `100k`, `123`: bytes. Throws Error naming the text.
size_t parse_bytes(const std::string& text);

// The built-in `local` engine: backend llama on the model that scripts/setup.sh generates
// (override the file with SKEIN_LOCAL_MODEL, or declare an engine named `local`).
EngineConfig local_engine_config();

// The engines of a file: a standalone engines file (`engines:` only) or the `engines:` section of a
// chain or graph file. Throws ConfigError with file:line.
// Its `broker:` limits go to `limits` when given.
std::map<std::string, EngineConfig> load_engines_file(const std::string& path, BrokerLimits* limits = nullptr);
// The same, from the file's text (`path` names it in errors and anchors relative model paths).
std::map<std::string, EngineConfig> parse_engines_file(const std::string& text, const std::string& path,
                                                       BrokerLimits* limits = nullptr);

// The backends this build can start.
const std::vector<std::string>& engine_backends();

// The options each backend takes beyond the common ones (model, lazy, keep_alive, parallel,
// startup_timeout, memory): the one table used when a file is loaded and when an engine starts.
const std::map<std::string, std::vector<std::string>>& backend_options();

// Starts an engine for `config` (blocking; loads the model). Throws EngineError, or ConfigError
// for options that do not fit the backend.
std::unique_ptr<Engine> start_engine(const EngineConfig& config);

}  // namespace skein
