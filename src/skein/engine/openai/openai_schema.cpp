#include "openai_schema.hpp"

#include "skein/engine.hpp"

#include "schema/subschemas.hpp"

#include <algorithm>
#include <set>

namespace skein {
namespace {

// The keywords OpenAI's strict mode accepts (its structured-outputs guide); annotations included.
const std::set<std::string> kStrictKeywords = {"type",
                                               "properties",
                                               "required",
                                               "additionalProperties",
                                               "items",
                                               "enum",
                                               "const",
                                               "anyOf",
                                               "$ref",
                                               "$defs",
                                               "definitions",
                                               "description",
                                               "title",
                                               "pattern",
                                               "format",
                                               "minimum",
                                               "maximum",
                                               "exclusiveMinimum",
                                               "exclusiveMaximum",
                                               "multipleOf",
                                               "minItems",
                                               "maxItems"};

// The schema rewritten for strict mode in place; each step returns why it cannot be ("" when it
// can).
struct Converter {
  const Json& root;
  bool converted = false;

  bool allows_null(const Json& s) const {
    if (!s.is_object()) return s == true;
    if (s.contains("type")) {
      const Json& t = s["type"];
      if (t == "null" || (t.is_array() && std::find(t.begin(), t.end(), "null") != t.end())) return true;
    }
    if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), nullptr) != s["enum"].end()) return true;
    if (s.contains("const") && s["const"].is_null()) return true;
    if (s.contains("anyOf"))
      for (const auto& alt : s["anyOf"])
        if (allows_null(alt)) return true;
    if (s.contains("$ref") && s["$ref"].is_string()) {
      const std::string ref = s["$ref"].get<std::string>();
      if (ref.rfind("#/", 0) == 0 && root.contains(Json::json_pointer(ref.substr(1))))
        return allows_null(root[Json::json_pointer(ref.substr(1))]);
    }
    return !s.contains("type") && !s.contains("enum") && !s.contains("const") && !s.contains("anyOf") &&
           !s.contains("$ref");  // {} takes null too
  }

  std::string object(Json& s, const std::string& at) {
    if (!s.contains("properties")) return "the object at " + at + " lists no properties";
    if (!s.contains("type")) s["type"] = "object";  // strict mode wants it said
    if (s.contains("additionalProperties") && s["additionalProperties"] != false)
      return "the object at " + at + " takes other properties (strict mode closes every object)";
    std::set<std::string> required;
    for (const auto& r : s.value("required", Json::array())) required.insert(r.get<std::string>());
    Json all = Json::array();
    for (auto& [name, sub] : s["properties"].items()) {
      all.push_back(name);
      if (required.count(name)) continue;
      if (allows_null(sub))
        return "optional property '" + name + "' at " + at +
               " may be null already: a null could not be told from "
               "an absent value";
      sub = Json{{"anyOf", Json::array({sub, Json{{"type", "null"}}})}};
      converted = true;
    }
    s["required"] = all;
    s["additionalProperties"] = false;
    return "";
  }

  std::string convert(Json& s, const std::string& at) {
    if (!s.is_object()) return "";
    const Json& t = s.value("type", Json());
    const bool is_object = t == "object" || s.contains("properties") ||
                           (t.is_array() && std::find(t.begin(), t.end(), "object") != t.end());
    if (is_object)
      if (std::string why = object(s, at); !why.empty()) return why;
    for (const char* k : {"properties", "$defs", "definitions"})
      if (s.contains(k))
        for (auto& [name, sub] : s[k].items())
          if (std::string why = convert(sub, at + "/" + k + "/" + name); !why.empty()) return why;
    // (an optional property's converted schema is an anyOf; its alternatives are walked below)
    if (s.contains("items"))
      if (std::string why = convert(s["items"], at + "/items"); !why.empty()) return why;
    if (s.contains("anyOf"))
      for (size_t i = 0; i < s["anyOf"].size(); ++i)
        if (std::string why = convert(s["anyOf"][i], at + "/anyOf/" + std::to_string(i)); !why.empty()) return why;
    return "";
  }
};

// What in the schema as written strict mode refuses: a keyword it lacks, a boolean schema, a tuple.
std::string unsupported(const Json& s, const std::string& at) {
  if (s.is_boolean()) return "a boolean schema at " + at;
  for (const auto& [k, v] : s.items())
    if (!kStrictKeywords.count(k)) return "`" + k + "` (at " + at + ") is not a keyword strict mode accepts";
  if (s.contains("items") && s["items"].is_array()) return "a tuple (`items` as a list) at " + at;
  std::string why;
  for_each_subschema(s, [&](const Json& sub, const std::string& suffix) {
    if (why.empty()) why = unsupported(sub, at + suffix);
  });
  return why;
}

const Json* target(const Json& root, const Json& s) {
  if (!s.is_object() || !s.contains("$ref") || !s["$ref"].is_string()) return &s;
  const std::string ref = s["$ref"].get<std::string>();
  if (ref.rfind("#/", 0) != 0 || !root.contains(Json::json_pointer(ref.substr(1)))) return &s;
  return &root[Json::json_pointer(ref.substr(1))];
}

void drop_nulls(Json& value, const Json& s0, const Json& root, int depth) {
  if (depth > 64) return;
  const Json& s = *target(root, s0);
  if (!s.is_object()) return;
  if (value.is_object() && s.contains("properties")) {
    std::set<std::string> required;
    for (const auto& r : s.value("required", Json::array())) required.insert(r.get<std::string>());
    for (auto& [name, sub] : s["properties"].items()) {
      if (!value.contains(name)) continue;
      if (value[name].is_null() && !required.count(name))
        value.erase(name);
      else
        drop_nulls(value[name], sub, root, depth + 1);
    }
  }
  if (value.is_array() && s.contains("items") && s["items"].is_object())
    for (auto& item : value) drop_nulls(item, s["items"], root, depth + 1);
  if (s.contains("anyOf"))
    for (const auto& alt : s["anyOf"]) drop_nulls(value, alt, root, depth + 1);
}

}  // namespace

OpenAISchema openai_schema(const Json& schema) {
  OpenAISchema out;
  out.schema = schema;
  if (!schema.is_object() || !(schema.value("type", Json()) == "object" || schema.contains("properties"))) {
    out.why_not_strict = "strict mode needs an object at the root";
    return out;
  }
  Json converted = schema;
  Converter c{schema};
  std::string why = unsupported(schema, "#");
  if (why.empty()) why = c.convert(converted, "#");
  if (!why.empty()) {
    out.why_not_strict = why;
    return out;
  }
  out.strict = true;
  out.converted = c.converted;
  out.schema = std::move(converted);  // every object closed, every property listed as required
  return out;
}

Json drop_added_nulls(Json value, const Json& schema) {
  drop_nulls(value, schema, schema, 0);
  return value;
}

std::string openai_mode(const OpenAISchema& form) {
  if (!form.strict) return "non-strict: " + form.why_not_strict;
  return form.converted ? "strict (optional properties sent as required and nullable)" : "strict";
}

std::string openai_schema_mode(const Json& schema) { return openai_mode(openai_schema(schema)); }

}  // namespace skein
