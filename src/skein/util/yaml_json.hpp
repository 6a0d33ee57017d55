// YAML documents as JSON, keeping the source line of every value for error messages.
#pragma once
#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "skein/error.hpp"
#include "skein/json.hpp"

namespace skein {

// The YAML document of a file's text. Throws ConfigError at the line of the fault for text that is
// not valid UTF-8 (names, templates and schemas go into JSON, which must be) or not valid YAML.
YAML::Node load_yaml_text(const std::string& text, const std::string& file);

// JSON pointer (relative to the converted node) -> 1-based line.
using LineMap = std::map<std::string, int>;

// Converts a YAML node: plain scalars become null/bool/int/float where they read as such, quoted
// scalars stay strings, mapping key order is kept.
Json yaml_to_json(const YAML::Node& node, LineMap* lines = nullptr, const std::string& pointer = "");

// The location of a YAML node in `file`.
Location where(const std::string& file, const YAML::Node& node);

// Throws ConfigError at the first key of `map` not in `allowed`, listing the allowed keys.
void refuse_unknown_keys(const std::string& file, const YAML::Node& map, const std::set<std::string>& allowed,
                         const std::string& what);

// Reads a scalar as T, or throws ConfigError "<what>: expected <kind>" at its line.
template <typename T>
T scalar_as(const std::string& file, const YAML::Node& node, const std::string& what) {
  try {
    if (!node.IsScalar()) throw YAML::Exception(node.Mark(), "not a scalar");
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw ConfigError(where(file, node), what + " has the wrong kind of value");
  }
}

// A whole number >= 1.
int positive_int(const std::string& file, const YAML::Node& node, const std::string& what);

// A list of scalars as strings.
std::vector<std::string> scalar_list(const std::string& file, const YAML::Node& node, const std::string& what);

// A mapping of scalars, as a JSON object of strings.
Json string_map(const std::string& file, const YAML::Node& node, const std::string& what);

}  // namespace skein
