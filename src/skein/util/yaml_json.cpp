#include "yaml_json.hpp"

#include <cstdlib>

namespace skein {
namespace {

Json plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  char* end = nullptr;
  const long long i = std::strtoll(s.c_str(), &end, 10);
  if (end && *end == '\0' && s.find_first_of("0123456789") != std::string::npos) return i;
  const double d = std::strtod(s.c_str(), &end);
  if (end && *end == '\0' && s.find_first_of("0123456789") != std::string::npos) return d;
  return s;
}

std::string escape_pointer(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

}  // namespace

Json yaml_to_json(const YAML::Node& node, LineMap* lines, const std::string& pointer) {
  if (lines && node.Mark().line >= 0) (*lines)[pointer] = node.Mark().line + 1;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return node.Tag() == "!" ? Json(node.Scalar()) : plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (size_t i = 0; i < node.size(); ++i)
        out.push_back(yaml_to_json(node[i], lines, pointer + "/" + std::to_string(i)));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        const std::string key = kv.first.Scalar();
        out[key] = yaml_to_json(kv.second, lines, pointer + "/" + escape_pointer(key));
        if (lines) (*lines)[pointer + "/" + escape_pointer(key)] = kv.first.Mark().line + 1;
      }
      return out;
    }
  }
  return nullptr;
}

Location where(const std::string& file, const YAML::Node& node) {
  return Location{file, node.Mark().line >= 0 ? node.Mark().line + 1 : 0};
}

void refuse_unknown_keys(const std::string& file, const YAML::Node& map, const std::set<std::string>& allowed,
                         const std::string& what) {
  if (!map.IsMap()) throw ConfigError(where(file, map), what + " must be a mapping");
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    if (allowed.count(key)) continue;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw ConfigError(where(file, kv.first), "unknown key '" + key + "' in " + what + " (allowed: " + list + ")");
  }
}

int positive_int(const std::string& file, const YAML::Node& node, const std::string& what) {
  const int v = scalar_as<int>(file, node, what);
  if (v < 1) throw ConfigError(where(file, node), what + " must be at least 1");
  return v;
}

std::vector<std::string> scalar_list(const std::string& file, const YAML::Node& node, const std::string& what) {
  if (!node.IsSequence()) throw ConfigError(where(file, node), what + " must be a list");
  std::vector<std::string> out;
  for (const auto& item : node) out.push_back(scalar_as<std::string>(file, item, what));
  return out;
}

Json string_map(const std::string& file, const YAML::Node& node, const std::string& what) {
  if (!node.IsMap()) throw ConfigError(where(file, node), what + " must be a mapping");
  Json out = Json::object();
  for (const auto& kv : node) out[kv.first.Scalar()] = scalar_as<std::string>(file, kv.second, what);
  return out;
}

}  // namespace skein
