// The keyword check: a schema uses only the subset Skein can both constrain and validate.
#include <regex>
#include <set>

#include "keyword_plan.hpp"
#include "skein/schema.hpp"
#include "subschemas.hpp"

namespace skein {
namespace {

// Enforced while generating where the converter can (see keyword_plan.hpp), validated always.
const std::set<std::string> kKeywords = {
    "type", "properties", "required", "additionalProperties", "items", "prefixItems", "enum", "const", "minItems",
    "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
    "format", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions",
    // validated after generation only
    "multipleOf", "uniqueItems", "not", "if", "then", "else", "contains", "propertyNames", "patternProperties",
    "dependencies", "dependentRequired", "dependentSchemas", "minProperties", "maxProperties", "additionalItems",
    // annotations
    "description", "default", "title", "examples", "$comment", "$schema", "readOnly", "writeOnly", "deprecated"};
const std::set<std::string> kTypeNames = {"object", "array", "string", "number", "integer", "boolean", "null"};

// Whether `ref` ("#/…") is a JSON pointer to something in `root`.
bool points_into(const Json& root, const std::string& ref) {
  if (ref.rfind("#/", 0) != 0) return false;
  try {
    return root.contains(Json::json_pointer(ref.substr(1)));
  } catch (const Json::exception&) {  // not a valid pointer
    return false;
  }
}

struct Checker {
  const Location& where;
  const std::map<std::string, int>& lines;
  const Json& root;

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
    for (const char* k : {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
      if (s.contains(k)) expect(s[k].is_object(), p + "/" + k, std::string("`") + k + "` must be a mapping");
    for (const char* k : {"anyOf", "oneOf", "allOf", "prefixItems"})
      if (s.contains(k))
        expect(s[k].is_array() && !s[k].empty(), p + "/" + k, std::string("`") + k + "` must be a non-empty list");
    expect(!(s.contains("prefixItems") && s.contains("items") && s["items"].is_array()), p + "/items",
           "`items` as a list (a draft-7 tuple) beside `prefixItems`: use one of them");
    // Every member a schema: the walk below passes over anything else (a list of names under
    // `dependencies` is not a schema), and the validator would refuse it.
    const auto must_be_schema = [&](const Json& sub, const std::string& at) {
      expect(sub.is_object() || sub.is_boolean(), at, "must be a schema (a mapping, true or false), got " + sub.dump());
    };
    for (const char* k : {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
      if (s.contains(k))
        for (const auto& [name, sub] : s[k].items()) must_be_schema(sub, p + "/" + k + "/" + name);
    for (const char* k : {"anyOf", "oneOf", "allOf", "prefixItems", "items"})
      if (s.contains(k) && s[k].is_array())
        for (size_t i = 0; i < s[k].size(); ++i) must_be_schema(s[k][i], p + "/" + k + "/" + std::to_string(i));
    for_each_subschema(s, [&](const Json& sub, const std::string& suffix) { check(sub, p + suffix); });
    for (const char* k :
         {"items", "additionalProperties", "additionalItems", "not", "if", "then", "else", "contains", "propertyNames"})
      if (s.contains(k) && !(s[k].is_object() || s[k].is_boolean() || (std::string(k) == "items" && s[k].is_array())))
        fail(p + "/" + k, std::string("`") + k + "` must be a schema");
  }

  void check_names(const Json& names, const std::string& p, const char* what) const {
    expect(names.is_array(), p, std::string("`") + what + "` must be a list of names");
    for (const auto& n : names) expect(n.is_string(), p, std::string("`") + what + "` must be a list of names");
  }

  void check_values(const Json& s, const std::string& p) const {
    if (s.contains("type")) check_type(s["type"], p + "/type");
    if (s.contains("required")) {
      check_names(s["required"], p + "/required", "required");
      for (auto& r : s["required"]) {
        const std::string name = r.get<std::string>();
        expect(s.contains("properties") && s["properties"].is_object() && s["properties"].contains(name),
               p + "/required", "required field '" + name + "' is not in `properties`");
        expect(s["properties"][name] != false, p + "/properties/" + name,
               "required field '" + name + "' has the schema `false`: no value can be valid");
      }
    }
    if (s.contains("dependentRequired")) {
      expect(s["dependentRequired"].is_object(), p + "/dependentRequired", "`dependentRequired` must be a mapping");
      for (auto& [k, v] : s["dependentRequired"].items())
        check_names(v, p + "/dependentRequired/" + k, "dependentRequired");
    }
    if (s.contains("dependencies")) {
      expect(s["dependencies"].is_object(), p + "/dependencies", "`dependencies` must be a mapping");
      for (auto& [k, v] : s["dependencies"].items())
        if (!v.is_object() && !v.is_boolean()) check_names(v, p + "/dependencies/" + k, "dependencies");
    }
    if (s.contains("format")) {
      const Json& f = s["format"];
      expect(f.is_string() && known_formats().count(f.get<std::string>()), p + "/format",
             "format " + f.dump() +
                 " is neither enforced while generating nor checked after it (known: date, time, date-time, uuid)");
    }
    for (const char* k : {"uniqueItems"})
      if (s.contains(k)) expect(s[k].is_boolean(), p + "/" + k, std::string("`") + k + "` must be true or false");
    if (s.contains("multipleOf"))
      expect(s["multipleOf"].is_number() && s["multipleOf"].get<double>() > 0, p + "/multipleOf",
             "`multipleOf` must be a number above 0");
    if (s.contains("enum"))
      expect(s["enum"].is_array() && !s["enum"].empty(), p + "/enum", "`enum` must be a non-empty list");
    for (const char* k : {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"})
      if (s.contains(k))
        expect(s[k].is_number_integer() && s[k].get<long long>() >= 0, p + "/" + k,
               std::string("`") + k + "` must be a non-negative integer");
    for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
      if (s.contains(k)) expect(s[k].is_number(), p + "/" + k, std::string("`") + k + "` must be a number");
    if (s.contains("pattern")) {
      expect(s["pattern"].is_string(), p + "/pattern", "`pattern` must be a string");
      try {
        std::regex(s["pattern"].get<std::string>(), std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        fail(p + "/pattern", "`pattern` is not a valid regular expression: " + std::string(e.what()));
      }
    }
    if (s.contains("$ref")) {
      expect(s["$ref"].is_string(), p + "/$ref", "`$ref` must name a type or point into this one (\"#/$defs/X\")");
      const std::string ref = s["$ref"].get<std::string>();
      for (const auto& [k, v] : s.items())  // draft 7 ignores them, and so would the grammar
        if (k != "$ref" && !is_annotation(k))
          fail(p + "/" + k,
               "`" + k + "` beside `$ref` would be ignored: write `allOf: [{$ref: " + ref + "}, {" + k + ": …}]`");
      if (ref.rfind("#", 0) == 0)  // a pointer into this type; a bare name is another type (TypeSet)
        expect(points_into(root, ref), p + "/$ref", "`$ref: " + ref + "` points to nothing in this type");
      else
        expect(ref.find('/') == std::string::npos && ref.find(':') == std::string::npos, p + "/$ref",
               "`$ref: " + ref +
                   "` is neither a type's name nor a pointer into this type (remote references are not "
                   "fetched)");
    }
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
  Checker{where, lines, schema}.check(schema, pointer);
}

}  // namespace skein
