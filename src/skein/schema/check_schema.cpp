// The keyword check: a schema uses only the subset Skein can both constrain and validate.
#include <regex>
#include <set>

#include "skein/schema.hpp"

namespace skein {
namespace {

const std::set<std::string> kKeywords = {"type",        "properties", "required", "additionalProperties",
                                         "items",       "enum",       "const",    "minItems",
                                         "maxItems",    "minimum",    "maximum",  "minLength",
                                         "maxLength",   "pattern",    "anyOf",    "$ref",
                                         "description", "default",    "title"};
const std::set<std::string> kTypeNames = {"object", "array", "string", "number", "integer", "boolean", "null"};

struct Checker {
  const Location& where;
  const std::map<std::string, int>& lines;

  [[noreturn]] void fail(const std::string& pointer, const std::string& message) const {
    Location at = where;
    auto it = lines.find(pointer);
    if (it != lines.end()) at.line = it->second;
    throw ConfigError(at, message + (pointer.empty() ? "" : " (at " + pointer + ")"));
  }

  void expect(bool ok, const std::string& pointer, const std::string& message) const {
    if (!ok) fail(pointer, message);
  }

  void check_type_name(const Json& t, const std::string& p) const {
    expect(t.is_string() && kTypeNames.count(t.get<std::string>()), p,
           "`type` must be one of object, array, string, number, integer, boolean, null; got " + t.dump());
  }

  void check_type(const Json& t, const std::string& p) const {
    if (!t.is_array()) return check_type_name(t, p);
    expect(!t.empty(), p, "`type` list is empty");
    for (size_t i = 0; i < t.size(); ++i) check_type_name(t[i], p + "/" + std::to_string(i));
  }

  void check_subschemas(const Json& s, const std::string& p) const {
    if (s.contains("properties")) {
      expect(s["properties"].is_object(), p + "/properties", "`properties` must be a mapping");
      for (auto& [k, v] : s["properties"].items()) check(v, p + "/properties/" + k);
    }
    if (s.contains("items")) check(s["items"], p + "/items");
    if (s.contains("additionalProperties") && !s["additionalProperties"].is_boolean())
      check(s["additionalProperties"], p + "/additionalProperties");
    if (s.contains("anyOf")) {
      expect(s["anyOf"].is_array() && !s["anyOf"].empty(), p + "/anyOf", "`anyOf` must be a non-empty list");
      for (size_t i = 0; i < s["anyOf"].size(); ++i) check(s["anyOf"][i], p + "/anyOf/" + std::to_string(i));
    }
  }

  void check_values(const Json& s, const std::string& p) const {
    if (s.contains("type")) check_type(s["type"], p + "/type");
    if (s.contains("required")) {
      expect(s["required"].is_array(), p + "/required", "`required` must be a list of names");
      for (auto& r : s["required"]) {
        expect(r.is_string(), p + "/required", "`required` must be a list of names");
        expect(s.contains("properties") && s["properties"].contains(r.get<std::string>()), p + "/required",
               "required field '" + r.get<std::string>() + "' is not in `properties`");
      }
    }
    if (s.contains("enum"))
      expect(s["enum"].is_array() && !s["enum"].empty(), p + "/enum", "`enum` must be a non-empty list");
    for (const char* k : {"minItems", "maxItems", "minLength", "maxLength"})
      if (s.contains(k))
        expect(s[k].is_number_integer() && s[k].get<long long>() >= 0, p + "/" + k,
               std::string("`") + k + "` must be a non-negative integer");
    for (const char* k : {"minimum", "maximum"})
      if (s.contains(k)) expect(s[k].is_number(), p + "/" + k, std::string("`") + k + "` must be a number");
    if (s.contains("pattern")) {
      expect(s["pattern"].is_string(), p + "/pattern", "`pattern` must be a string");
      try {
        std::regex(s["pattern"].get<std::string>(), std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        fail(p + "/pattern", "`pattern` is not a valid regular expression: " + std::string(e.what()));
      }
    }
    if (s.contains("$ref")) expect(s["$ref"].is_string(), p + "/$ref", "`$ref` must name a type");
  }

  void check(const Json& s, const std::string& p) const {
    if (s.is_boolean()) return;
    expect(s.is_object(), p, "a type must be a mapping, got " + s.dump());
    for (auto& [k, v] : s.items())
      if (!kKeywords.count(k)) fail(p + "/" + k, "unsupported JSON Schema keyword '" + k + "'");
    check_values(s, p);
    check_subschemas(s, p);
  }
};

}  // namespace

void check_schema(const Json& schema, const Location& where, const std::map<std::string, int>& lines,
                  const std::string& pointer) {
  Checker{where, lines}.check(schema, pointer);
}

}  // namespace skein
