#include "keyword_plan.hpp"

#include <algorithm>
#include <cmath>

#include "grammar.hpp"

#include "subschemas.hpp"

namespace skein {
namespace {

const char* kUuidPattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

}  // namespace

bool is_annotation(const std::string& k) {
  static const std::set<std::string> keys = {"description", "default",   "title",     "examples",
                                             "$comment",    "$schema",   "$defs",     "definitions",
                                             "readOnly",    "writeOnly", "deprecated"};
  return keys.count(k) > 0;
}

namespace {

bool has(const Json& s, const char* k) { return s.is_object() && s.contains(k); }

// A number bounded on both sides: Skein builds it into the grammar in its place (grammar.cpp).
bool bounded_number(const Json& s) {
  return s.is_object() && s.value("type", Json()) == "number" && s.contains("minimum") && s.contains("maximum") &&
         s["minimum"].is_number() && s["maximum"].is_number() && std::fabs(s["minimum"].get<double>()) < 1e15 &&
         std::fabs(s["maximum"].get<double>()) < 1e15;
}

// A tuple (`prefixItems`, or `items` as a list) and its length; -1 when `s` has none.
long long tuple_length(const Json& s) {
  if (has(s, "prefixItems") && s["prefixItems"].is_array()) return (long long)s["prefixItems"].size();
  if (has(s, "items") && s["items"].is_array()) return (long long)s["items"].size();
  return -1;
}

// The keywords of `s` itself that llama.cpp's converter builds into the grammar, in the order its
// build_node decides (common/json-schema.cpp): a `$ref` alone, else a union, else each listed type,
// else `const`, `enum`, then the keywords of the type. The rest only the validator checks.
std::set<std::string> enforced_here(const Json& s) {
  if (!s.is_object()) return {};
  if (bounded_number(s)) return {"type", "minimum", "maximum"};  // the range replaces the node
  if (s.contains("$ref")) return {"$ref"};
  if (s.contains("oneOf")) return {"oneOf"};  // as a union: that only one alternative fits is validated
  if (s.contains("anyOf")) return {"anyOf"};
  const Json type = s.value("type", Json());
  std::set<std::string> out;
  if (type.is_array()) {
    out.insert("type");
    for (const auto& t : type) {
      Json alt = s;
      alt["type"] = t;
      if (t == "number") alt.erase("maximum");  // a listed number is not Skein's bounded one
      for (const auto& k : enforced_here(alt)) out.insert(k);
    }
    return out;
  }
  if (s.contains("const")) return {"const"};
  if (s.contains("enum")) return {"enum"};
  const std::string t = type.is_string() ? type.get<std::string>() : "";
  if (!t.empty()) out.insert("type");
  auto add = [&](std::initializer_list<const char*> keys) {
    for (const char* k : keys)
      if (s.contains(k)) out.insert(k);
  };
  const bool object_like =
      s.contains("properties") || (s.contains("additionalProperties") && s["additionalProperties"] != true);
  const bool array_like = s.contains("items") || s.contains("prefixItems");
  const bool string_like =
      s.contains("pattern") || s.contains("format") || s.contains("minLength") || s.contains("maxLength");
  if (t == "object" || (t.empty() && object_like)) {
    add({"properties", "required", "additionalProperties"});
  } else if (t == "array" || (t.empty() && array_like)) {
    add({"items", "prefixItems"});
    const Json& items = s.contains("items") ? s["items"] : s.value("prefixItems", Json());
    if (!items.is_array()) add({"minItems", "maxItems"});  // a tuple has its exact length
  } else if (t == "string" || (t.empty() && string_like)) {
    if (s.contains("pattern"))  // pattern beats format beats lengths (json-schema-to-grammar.cpp);
      add({"pattern"});         // one the converter cannot build is dropped by for_grammar
    else if (s.contains("format"))
      add({"format"});
    else
      add({"minLength", "maxLength"});
  } else if (t == "integer") {
    add({"minimum", "maximum"});
    if (!s.contains("minimum")) add({"exclusiveMinimum"});
    if (!s.contains("maximum")) add({"exclusiveMaximum"});
  }
  return out;
}

// The target of a local reference ("#/$defs/X"), or null.
const Json* resolve(const Json& root, const Json& s) {
  if (!has(s, "$ref") || !s["$ref"].is_string()) return nullptr;
  const std::string ref = s["$ref"].get<std::string>();
  if (ref.rfind("#/", 0) != 0) return nullptr;
  try {
    const Json::json_pointer ptr(ref.substr(1));
    return root.contains(ptr) ? &root[ptr] : nullptr;
  } catch (const Json::exception&) {  // not a valid pointer
    return nullptr;
  }
}

// A schema that only describes an object's properties (what an `allOf` can be merged from).
bool plain_object(const Json& s) {
  if (!s.is_object()) return false;
  for (const auto& [k, v] : s.items())
    if (k == "type" ? v != "object" : !(k == "properties" || k == "required" || is_annotation(k))) return false;
  return s.contains("properties");
}

bool only_annotations(const Json& s) {
  for (const auto& [k, v] : s.items())
    if (!is_annotation(k)) return false;
  return true;
}

Json for_grammar(const Json& s, const Json& root, int depth = 0);

// The parts of an `allOf`, plain objects (or local references to them, in the grammar's form),
// merged into `s`; false (and `s` unchanged) when they are not all such.
bool merge_all_of_into(Json& s, const Json& all_of, const Json& root, int depth) {
  if (has(s, "type") && s["type"] != "object") return false;
  if (depth > 16) return false;  // references all the way down (a recursive type)
  std::vector<Json> parts;
  for (const auto& child : all_of) {
    const Json* part = plain_object(child) ? &child : resolve(root, child);
    if (!part || !plain_object(*part)) return false;
    parts.push_back(part == &child ? child : for_grammar(*part, root, depth + 1));
  }
  for (const Json& part : parts) {
    for (const auto& [name, sub] : part["properties"].items())
      if (!has(s, "properties") || !s["properties"].contains(name)) s["properties"][name] = sub;
    for (const auto& name : part.value("required", Json::array()))
      if (!has(s, "required") || std::find(s["required"].begin(), s["required"].end(), name) == s["required"].end())
        s["required"].push_back(name);
  }
  s["type"] = "object";
  return true;
}

Json for_grammar(const Json& s, const Json& root, int depth) {
  if (s.is_boolean()) return s.get<bool>() ? Json::object() : Json{{"not", Json::object()}};
  Json out = s;
  if (has(out, "properties") && out["properties"].is_object()) {  // a `false` property never appears
    for (auto it = out["properties"].begin(); it != out["properties"].end();)
      it = it.value() == false ? out["properties"].erase(it) : std::next(it);
  }
  if (has(out, "items") && out["items"].is_boolean()) {  // no item at all, or any
    if (out["items"] == false) out["maxItems"] = 0;
    out.erase("items");
  }
  for_each_subschema(out, [&](Json& sub, const std::string& at) {
    if (!(sub.is_boolean() && at == "/additionalProperties")) sub = for_grammar(sub, root, depth + 1);
  });
  if (has(out, "allOf")) {
    const Json all_of = std::move(out["allOf"]);
    out.erase("allOf");
    if (!merge_all_of_into(out, all_of, root, depth) && !all_of.empty() && only_annotations(out)) {
      // Left to the validator; the grammar keeps to the first part (every valid value fits it).
      for (const auto& [k, v] : all_of[0].items()) out[k] = v;
    }
  }
  if (has(out, "prefixItems")) out.erase("items");  // the tuple; what may follow it is validated
  if (const long long n = tuple_length(out);
      n >= 0 && (out.value("minItems", 0LL) > n || out.value("maxItems", n) < n)) {
    // The converter makes a tuple exactly n long: with other bounds, an array of any items within
    // them (the tuple is validated).
    out.erase("prefixItems");
    out["items"] = Json::object();
  }
  if (has(out, "pattern") && out["pattern"].is_string() && !pattern_to_grammar_ok(out["pattern"].get<std::string>()))
    out.erase("pattern");  // the converter would take any string for it, and drop the lengths
  return out;
}

// `dependencies[name]` = `v` (a list of names or a schema), both kept when it has one already.
void add_dependency(Json& out, const std::string& name, const Json& v) {
  Json& deps = out["dependencies"];
  if (!deps.contains(name)) {
    deps[name] = v;
    return;
  }
  auto as_schema = [](const Json& d) { return d.is_array() ? Json{{"required", d}} : d; };
  deps[name] = Json{{"allOf", Json::array({as_schema(deps[name]), as_schema(v)})}};
}

Json for_validator(const Json& s) {
  if (!s.is_object()) return s;
  Json out = s;
  for_each_subschema(out, [&](Json& sub, const std::string&) { sub = for_validator(sub); });
  if (out.contains("prefixItems")) {             // draft 7: a tuple is `items` as a list
    Json tuple = std::move(out["prefixItems"]);  // copies first: adding to `out` may move its members
    out.erase("prefixItems");
    if (out.contains("items")) {
      Json rest = std::move(out["items"]);
      out["additionalItems"] = std::move(rest);
    }
    out["items"] = std::move(tuple);
  }
  for (const char* k : {"dependentRequired", "dependentSchemas"})
    if (out.contains(k)) {
      const Json moved = std::move(out[k]);  // (adding to `out` may move its members)
      out.erase(k);
      for (const auto& [name, v] : moved.items()) add_dependency(out, name, v);
    }
  if (out.value("format", "") == "uuid") {  // valijson lets formats it does not know pass
    out.erase("format");
    if (out.contains("pattern"))
      out["allOf"].push_back(Json{{"pattern", kUuidPattern}});
    else
      out["pattern"] = kUuidPattern;
  }
  return out;
}

// The node's keywords sorted into the report; `reached`: the grammar gets to this node at all.
void report(const Json& s, const Json& root, bool reached, KeywordReport& r) {
  if (!s.is_object()) return;
  std::set<std::string> enforced;
  if (reached) {
    enforced = enforced_here(for_grammar(s, root));  // as the converter sees it
    Json merged = s;
    if (has(s, "allOf") && merge_all_of_into(merged, s["allOf"], root, 0)) enforced.insert("allOf");
  }
  for (const auto& [k, v] : s.items())
    if (!is_annotation(k)) (enforced.count(k) ? r.enforced : r.validated).insert(k);
  for_each_subschema(s, [&](const Json& sub, const std::string& suffix) {
    const std::string key = suffix.substr(1, suffix.find('/', 1) - 1);
    report(sub, root, reached && (enforced.count(key) > 0 || key == "$defs" || key == "definitions"), r);
  });
}

}  // namespace

Json grammar_schema(const Json& schema) { return for_grammar(schema, schema); }

Json validation_schema(const Json& schema) { return for_validator(schema); }

KeywordReport keyword_report(const Json& schema) {
  KeywordReport r;
  report(schema, schema, true, r);
  return r;
}

}  // namespace skein
