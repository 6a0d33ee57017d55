#include "skein/engine_config.hpp"

#include <cstdlib>
#include <filesystem>
#include <set>

#include "engine/cli/cli_engine.hpp"
#include "engine/engine_options.hpp"
#include "engine/managed/managed_server.hpp"
#include "engine/ollama/ollama_engine.hpp"
#include "engine/openai/openai_engine.hpp"
#include "skein/llama_engine.hpp"

namespace skein {

int int_option(const EngineConfig& c, const char* key, int fallback) {
  if (!c.options.contains(key)) return fallback;
  const Json& v = c.options[key];
  if (!v.is_number_integer()) throw ConfigError(c.where, "engine '" + c.name + "': `" + key + "` must be an integer");
  return v.get<int>();
}

std::string string_option(const EngineConfig& c, const char* key, const std::string& fallback) {
  if (!c.options.contains(key)) return fallback;
  if (!c.options[key].is_string())
    throw ConfigError(c.where, "engine '" + c.name + "': `" + key + "` must be a string");
  return c.options[key].get<std::string>();
}

EngineConfig local_engine_config() {
  EngineConfig c;
  c.name = "local";
  c.backend = "llama";
  const char* env = std::getenv("SKEIN_LOCAL_MODEL");
  c.model = env && *env ? env : std::string(SKEIN_DEFAULT_MODEL_DIR) + "/local.gguf";
  c.parallel = 8;
  return c;
}

namespace {

void refuse_unknown_options(const EngineConfig& c, const std::set<std::string>& allowed) {
  for (auto& [k, v] : c.options.items())
    if (!allowed.count(k))
      throw ConfigError(c.where, "engine '" + c.name + "': option '" + k + "' does not apply to backend " + c.backend);
}

std::unique_ptr<Engine> start_llama(const EngineConfig& config) {
  refuse_unknown_options(config, {"context", "batch", "threads"});
  if (!std::filesystem::exists(config.model))
    throw EngineError(config.name,
                      "model file '" + config.model + "' not found" +
                          (config.name == "local" ? " (run scripts/setup.sh, or set SKEIN_LOCAL_MODEL)" : ""));
  LlamaOptions o;
  o.model_path = config.model;
  o.parallel = config.parallel;
  o.context = int_option(config, "context", 2048);
  o.batch = std::max(int_option(config, "batch", 512), config.parallel);
  o.threads = int_option(config, "threads", 0);
  return make_llama_engine(config.name, o);
}

std::unique_ptr<Engine> start_openai(const EngineConfig& config) {
  refuse_unknown_options(config, {"endpoint", "api_key_env", "timeout", "retries"});
  OpenAIOptions o;
  o.endpoint = string_option(config, "endpoint");
  if (o.endpoint.empty()) throw ConfigError(config.where, "engine '" + config.name + "' needs `endpoint:`");
  o.model = config.model;
  o.api_key_env = string_option(config, "api_key_env");
  o.parallel = config.parallel;
  o.timeout = std::chrono::seconds(int_option(config, "timeout", 300));
  o.retries = int_option(config, "retries", 4);
  return make_openai_engine(config.name, o);
}

std::unique_ptr<Engine> start_cli(const EngineConfig& config) {
  refuse_unknown_options(config, {"command", "extract", "timeout"});
  CliOptions o;
  if (config.options.contains("command") && config.options["command"].is_array())
    o.command = config.options["command"].get<std::vector<std::string>>();
  else if (config.options.contains("command"))
    o.command = {"sh", "-c", config.options["command"].get<std::string>()};
  if (o.command.empty()) throw ConfigError(config.where, "engine '" + config.name + "' needs `command:`");
  o.model = config.model;
  o.extract = string_option(config, "extract");
  o.parallel = config.parallel;
  o.timeout = std::chrono::seconds(int_option(config, "timeout", 600));
  return make_cli_engine(config.name, o);
}

std::unique_ptr<Engine> start_ollama(const EngineConfig& config) {
  refuse_unknown_options(config, {"endpoint", "timeout", "retries"});
  OllamaOptions o;
  o.endpoint = string_option(config, "endpoint", o.endpoint);
  o.model = config.model;
  if (o.model.empty()) throw ConfigError(config.where, "engine '" + config.name + "' needs `model:`");
  o.keep_alive = config.keep_alive;
  o.parallel = config.parallel;
  o.timeout = std::chrono::seconds(int_option(config, "timeout", 300));
  o.retry.retries = int_option(config, "retries", 4);
  return make_ollama_engine(config.name, o);
}

std::unique_ptr<Engine> start_server(const EngineConfig& config) {
  refuse_unknown_options(config, {"command", "args", "port", "gpus", "env", "context"});
  if (config.model.empty()) throw ConfigError(config.where, "engine '" + config.name + "' needs `model:`");
  return start_managed_server(config);
}

}  // namespace

const std::vector<std::string>& engine_backends() {
  static const std::vector<std::string> names = {"llama", "openai", "ollama", "llama-server", "vllm", "cli"};
  return names;
}

std::unique_ptr<Engine> start_engine(const EngineConfig& config) {
  if (config.backend == "llama") return start_llama(config);
  if (config.backend == "openai") return start_openai(config);
  if (config.backend == "llama-server" || config.backend == "vllm") return start_server(config);
  if (config.backend == "cli") return start_cli(config);
  if (config.backend == "ollama") return start_ollama(config);
  std::string list;
  for (const auto& b : engine_backends()) list += (list.empty() ? "" : ", ") + b;
  throw ConfigError(config.where, "engine '" + config.name + "': backend '" + config.backend +
                                      "' is not available in this version (available: " + list + ")");
}

}  // namespace skein
