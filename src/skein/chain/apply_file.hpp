// An `apply:` node of a chain file.
#pragma once
#include <yaml-cpp/yaml.h>

#include "skein/chain.hpp"

namespace skein {

// Parses the node; throws ConfigError with file:line for its shape (unknown keys, a value of the
// wrong kind, an expression that does not parse). What it means is check_chain's to check.
Apply load_apply(const YAML::Node& node, const std::string& file);

}  // namespace skein
