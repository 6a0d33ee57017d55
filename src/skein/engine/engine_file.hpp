// The `engines:` section of a chain, graph or standalone engines file, to EngineConfigs.
// Unknown keys and backends are ConfigErrors at their file:line.
#pragma once
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "skein/engine_config.hpp"

namespace skein {

// `dir`: the folder relative model paths are resolved against.
std::map<std::string, EngineConfig> parse_engines(const YAML::Node& engines, const std::string& file,
                                                  const std::string& dir);

// A `broker:` mapping (max_loaded, memory_budget, acquire_timeout, max_queue, max_processes).
BrokerLimits parse_broker_limits(const YAML::Node& broker, const std::string& file);

}  // namespace skein
