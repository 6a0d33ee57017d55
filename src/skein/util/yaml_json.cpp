#include "yaml_json.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace skein {

namespace {

// The offset of the first byte that does not belong to a well-formed UTF-8 sequence, if any
// (overlong forms, surrogates and code points above U+10FFFF included).
std::optional<size_t> invalid_utf8_at(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return i;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return std::nullopt;
}

}  // namespace

YAML::Node load_yaml_text(const std::string& text, const std::string& file) {
  if (const auto at = invalid_utf8_at(text))
    throw ConfigError({file, int(1 + std::count(text.begin(), text.begin() + long(*at), '\n'))},
                      "not valid UTF-8 (byte " + std::to_string(*at) + "): save the file as UTF-8");
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError({file, e.mark.line + 1}, "not valid YAML: " + e.msg);
  }
}
namespace {

Json plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.find_first_of("0123456789") == std::string::npos) return s;
  // A number only when it is one exactly: an integer beyond 64 bits reads as a double, and text that
  // would read as an infinite or NaN double ("1e999", "nan(1)") stays text, as JSON has no such number.
  char* end = nullptr;
  errno = 0;
  const long long i = std::strtoll(s.c_str(), &end, 10);
  if (end && *end == '\0' && errno == 0) return i;
  const double d = std::strtod(s.c_str(), &end);
  if (end && *end == '\0' && std::isfinite(d)) return d;
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
