#include "engine_file.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "engine_options.hpp"
#include "util/yaml_json.hpp"

namespace skein {
namespace {

std::string resolve(const std::string& dir, const std::string& p) {
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (std::filesystem::path(dir) / p).lexically_normal().string();
}

void check_backend(const std::string& file, const YAML::Node& node, const EngineConfig& e) {
  const auto& backends = engine_backends();
  if (std::find(backends.begin(), backends.end(), e.backend) != backends.end()) return;
  std::string list;
  for (const auto& b : backends) list += (list.empty() ? "" : ", ") + b;
  throw ConfigError(where(file, node), "engine '" + e.name + "': backend '" + e.backend +
                                           "' is not available in this version (available: " + list + ")");
}

// Keys that are neither common nor the backend's own: refused at their line, naming the backend's
// options (the table start_engine checks again).
void refuse_foreign_options(const std::string& file, const YAML::Node& n, const EngineConfig& e) {
  static const std::set<std::string> common = {"backend",  "model",           "lazy",  "keep_alive",
                                               "parallel", "startup_timeout", "memory"};
  std::set<std::string> any;
  for (const auto& [backend, options] : backend_options()) any.insert(options.begin(), options.end());
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (common.count(key)) continue;
    if (!any.count(key)) {
      std::string known;
      for (const auto& k : common) known += ", " + k;
      for (const auto& k : any) known += ", " + k;
      throw ConfigError(where(file, kv.first),
                        "engine '" + e.name + "': unknown key '" + key + "' (known: " + known.substr(2) + ")");
    }
    if (const std::string why = option_problem(e.backend, key); !why.empty())
      throw ConfigError(where(file, kv.first), "engine '" + e.name + "': " + why);
  }
}

}  // namespace

BrokerLimits parse_broker_limits(const YAML::Node& n, const std::string& file) {
  if (!n.IsMap()) throw ConfigError(where(file, n), "`broker` must be a mapping of limits");
  refuse_unknown_keys(file, n, {"max_loaded", "memory_budget", "acquire_timeout", "max_queue", "max_processes"},
                      "`broker`");
  BrokerLimits b;
  if (n["max_loaded"]) b.max_loaded = positive_int(file, n["max_loaded"], "`max_loaded`");
  if (n["max_queue"]) b.max_queue = size_t(positive_int(file, n["max_queue"], "`max_queue`"));
  if (n["max_processes"]) b.max_processes = positive_int(file, n["max_processes"], "`max_processes`");
  if (n["acquire_timeout"]) {
    b.acquire_timeout = scalar_as<double>(file, n["acquire_timeout"], "`acquire_timeout`");
    if (*b.acquire_timeout <= 0)
      throw ConfigError(where(file, n["acquire_timeout"]), "`acquire_timeout` must be a positive number of seconds");
  }
  if (n["memory_budget"]) {
    try {
      b.memory_budget = parse_bytes(scalar_as<std::string>(file, n["memory_budget"], "`memory_budget`"));
    } catch (const ConfigError&) {
      throw;
    } catch (const Error& e) {
      throw ConfigError(where(file, n["memory_budget"]), std::string("`memory_budget`: ") + e.what());
    }
  }
  return b;
}

std::map<std::string, EngineConfig> parse_engines(const YAML::Node& engines, const std::string& file,
                                                  const std::string& dir) {
  std::map<std::string, EngineConfig> out;

  if (!engines.IsMap()) throw ConfigError(where(file, engines), "`engines` must be a mapping of name to engine");
  for (const auto& kv : engines) {
    EngineConfig e = kv.first.Scalar() == "local" ? local_engine_config() : EngineConfig{};
    e.name = kv.first.Scalar();
    e.where = where(file, kv.first);
    const YAML::Node& n = kv.second;
    if (!n.IsMap()) throw ConfigError(e.where, "engine '" + e.name + "' must be a mapping");
    if (n["backend"]) e.backend = scalar_as<std::string>(file, n["backend"], "`backend`");
    check_backend(file, n["backend"] ? n["backend"] : kv.first, e);
    refuse_foreign_options(file, n, e);
    if (n["model"]) {  // a file for llama, a model name for servers
      const auto model = scalar_as<std::string>(file, n["model"], "`model`");
      e.model = e.backend == "llama" || e.backend == "llama-server" ? resolve(dir, model) : model;
    }
    if (n["lazy"]) e.lazy = scalar_as<bool>(file, n["lazy"], "`lazy`");
    if (n["keep_alive"]) e.keep_alive = scalar_as<double>(file, n["keep_alive"], "`keep_alive`");
    if (n["parallel"]) e.parallel = positive_int(file, n["parallel"], "`parallel`");
    if (n["startup_timeout"]) e.startup_timeout = scalar_as<double>(file, n["startup_timeout"], "`startup_timeout`");
    if (n["memory"]) e.memory = scalar_as<size_t>(file, n["memory"], "`memory`");
    if (n["prefix_cache"]) e.options["prefix_cache"] = scalar_as<bool>(file, n["prefix_cache"], "`prefix_cache`");
    for (const char* k : {"context", "batch", "threads", "timeout", "retries", "port", "prefix_cache_cells"})
      if (n[k]) e.options[k] = scalar_as<int>(file, n[k], std::string("`") + k + "`");
    if (n["command"] && n["command"].IsSequence())
      e.options["command"] = scalar_list(file, n["command"], "`command`");
    else if (n["command"])
      e.options["command"] = scalar_as<std::string>(file, n["command"], "`command`");
    for (const char* k : {"endpoint", "api_key_env", "gpus", "extract"})
      if (n[k]) e.options[k] = scalar_as<std::string>(file, n[k], std::string("`") + k + "`");
    if (n["args"]) e.options["args"] = scalar_list(file, n["args"], "`args`");
    if (n["env"]) e.options["env"] = string_map(file, n["env"], "`env`");
    if (e.backend == "llama" && e.model.empty())
      throw ConfigError(e.where, "engine '" + e.name + "' needs `model:` (a GGUF file)");
    out[e.name] = std::move(e);
  }
  return out;
}

std::map<std::string, EngineConfig> load_engines_file(const std::string& path, BrokerLimits* limits) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError({path, 0}, "cannot read the file");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_engines_file(text, path, limits);
}

std::map<std::string, EngineConfig> parse_engines_file(const std::string& text, const std::string& path,
                                                       BrokerLimits* limits) {
  const YAML::Node root = load_yaml_text(text, path);
  if (!root.IsMap()) throw ConfigError({path, 1}, "an engines file must be a mapping with `engines:`");
  if (limits && root["broker"]) limits->merge(parse_broker_limits(root["broker"], path));
  if (!root["chain"] && !root["graph"]) refuse_unknown_keys(path, root, {"engines", "broker"}, "an engines file");
  if (!root["engines"]) {
    if (root["chain"] || root["graph"]) return {};  // a chain or graph on the built-in engines only
    if (root["broker"]) return {};
    throw ConfigError({path, 1}, "no `engines:` section");
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return parse_engines(root["engines"], path, dir.empty() ? "." : dir);
}

}  // namespace skein
