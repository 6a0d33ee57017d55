#include "skein/engine_config.hpp"

#include <cctype>
#include <cmath>
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

void refuse_unknown_options(const EngineConfig& c) {
  for (auto& [k, v] : c.options.items())
    if (const std::string why = option_problem(c.backend, k); !why.empty())
      throw ConfigError(c.where, "engine '" + c.name + "': " + why);
}

std::unique_ptr<Engine> start_llama(const EngineConfig& config) {
  refuse_unknown_options(config);
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
  if (config.options.contains("prefix_cache")) {
    if (!config.options["prefix_cache"].is_boolean())
      throw ConfigError(config.where, "engine '" + config.name + "': `prefix_cache` must be true or false");
    o.prefix_cache = config.options["prefix_cache"].get<bool>();
  }
  o.prefix_cache_cells = int_option(config, "prefix_cache_cells", 0);
  return make_llama_engine(config.name, o);
}

std::unique_ptr<Engine> start_openai(const EngineConfig& config) {
  refuse_unknown_options(config);
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
  refuse_unknown_options(config);
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
  refuse_unknown_options(config);
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
  refuse_unknown_options(config);
  if (config.model.empty()) throw ConfigError(config.where, "engine '" + config.name + "' needs `model:`");
  return start_managed_server(config);
}

}  // namespace

const std::map<std::string, std::vector<std::string>>& backend_options() {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"llama", {"context", "batch", "threads", "prefix_cache", "prefix_cache_cells"}},
      {"openai", {"endpoint", "api_key_env", "timeout", "retries"}},
      {"ollama", {"endpoint", "timeout", "retries"}},
      {"llama-server", {"command", "args", "port", "gpus", "env", "context"}},
      {"vllm", {"command", "args", "port", "gpus", "env", "context"}},
      {"cli", {"command", "extract", "timeout"}},
  };
  return table;
}

std::string option_problem(const std::string& backend, const std::string& option) {
  const auto it = backend_options().find(backend);
  if (it == backend_options().end()) return "";
  for (const auto& o : it->second)
    if (o == option) return "";
  std::string allowed;
  for (const auto& o : it->second) allowed += (allowed.empty() ? "" : ", ") + o;
  return "option '" + option + "' does not apply to backend " + backend + " (its options: " + allowed + ")";
}

void BrokerLimits::merge(const BrokerLimits& o) {
  if (o.max_loaded) max_loaded = o.max_loaded;
  if (o.memory_budget) memory_budget = o.memory_budget;
  if (o.acquire_timeout) acquire_timeout = o.acquire_timeout;
  if (o.max_queue) max_queue = o.max_queue;
  if (o.max_processes) max_processes = o.max_processes;
}

// A number and a unit: none or B (bytes); k, M, G, T with an optional B (powers of 1000); Ki, Mi, Gi,
// Ti with B (powers of 1024).
size_t parse_bytes(const std::string& text) {
  const std::string bad = "'" + text + "' is not a size (e.g. 8GiB, 512MiB, 2GB)";
  size_t pos = 0;
  double number = 0;
  try {
    number = std::stod(text, &pos);
  } catch (const std::exception&) {
    throw Error(bad);
  }
  std::string unit = text.substr(pos);
  unit.erase(0, unit.find_first_not_of(' '));
  if (!std::isfinite(number) || number < 0) throw Error(bad);
  double bytes = number;
  if (!unit.empty() && unit != "B") {
    const size_t power = std::string("KMGT").find(char(std::toupper(unsigned(unit[0])))) + 1;
    const std::string rest = unit.substr(1);
    if (power == 0 || (rest != "" && rest != "B" && rest != "iB")) throw Error(bad);
    bytes = number * std::pow(rest == "iB" ? 1024.0 : 1000.0, double(power));
  }
  // 2^64 itself is the first double a size_t cannot hold
  if (bytes >= 18446744073709551616.0) throw Error("'" + text + "' is larger than this machine can count");
  return size_t(bytes);
}

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
