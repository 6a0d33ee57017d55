#include "skein/engine_config.hpp"

#include <cstdlib>
#include <filesystem>
#include <set>

#include "skein/llama_engine.hpp"

namespace skein {
namespace {

int int_option(const EngineConfig& c, const char* key, int fallback) {
  if (!c.options.contains(key)) return fallback;
  const Json& v = c.options[key];
  if (!v.is_number_integer()) throw ConfigError(c.where, "engine '" + c.name + "': `" + key + "` must be an integer");
  return v.get<int>();
}

}  // namespace

EngineConfig local_engine_config() {
  EngineConfig c;
  c.name = "local";
  c.backend = "llama";
  const char* env = std::getenv("SKEIN_LOCAL_MODEL");
  c.model = env && *env ? env : std::string(SKEIN_DEFAULT_MODEL_DIR) + "/local.gguf";
  c.parallel = 8;
  return c;
}

std::unique_ptr<Engine> start_engine(const EngineConfig& config) {
  if (config.backend != "llama")
    throw ConfigError(config.where, "engine '" + config.name + "': backend '" + config.backend +
                                        "' is not available in this version (available: llama)");
  for (auto& [k, v] : config.options.items())
    if (!std::set<std::string>{"context", "batch", "threads"}.count(k))
      throw ConfigError(config.where, "engine '" + config.name + "': unknown llama option '" + k + "'");
  if (!std::filesystem::exists(config.model))
    throw EngineError(config.name,
                      "model file '" + config.model + "' not found" +
                          (config.name == "local" ? " (run scripts/setup.sh, or set SKEIN_LOCAL_MODEL)" : ""));
  LlamaOptions o;
  o.model_path = config.model;
  o.parallel = config.parallel;
  o.context = int_option(config, "context", 2048);
  o.batch = int_option(config, "batch", 512);
  o.threads = int_option(config, "threads", 0);
  return make_llama_engine(config.name, o);
}

}  // namespace skein
