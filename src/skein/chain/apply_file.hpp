// An `apply:` node of a chain file.
#pragma once
#include <yaml-cpp/yaml.h>

#include "skein/chain.hpp"

namespace skein {

// Throws ConfigError with file:line. A `fn` that is not a built-in is a registered function,
// checked when the chain runs.
Apply load_apply(const YAML::Node& node, const std::string& file, const Chain& chain);

}  // namespace skein
