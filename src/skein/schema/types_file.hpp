// The `types:` section of a chain or graph file: name -> JSON Schema, added to a TypeSet with the
// lines of every key kept for error messages.
#pragma once
#include <yaml-cpp/yaml.h>

#include "skein/schema.hpp"

namespace skein {

// Throws ConfigError at file:line when `types` is not a mapping or a schema is refused.
void load_types(const std::string& file, const YAML::Node& types, TypeSet& set);

}  // namespace skein
