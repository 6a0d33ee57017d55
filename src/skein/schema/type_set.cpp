// Named types and the rewrite of `$ref: Name` into a self-contained schema with `$defs`.
#include "skein/schema.hpp"

namespace skein {
namespace {

const std::string kDefsPrefix = "#/$defs/";

std::string ref_name(const std::string& ref) {
  return ref.rfind(kDefsPrefix, 0) == 0 ? ref.substr(kDefsPrefix.size()) : ref;
}

// Calls `f` on each subschema of `schema` (not on `schema` itself), by the keywords that hold
// subschemas: the keys under `properties` or `$defs` are names, never keywords (a property may be
// called `$ref`).
template <typename J, typename F>
void for_each_subschema(J& schema, F&& f) {
  if (!schema.is_object()) return;
  for (auto& [k, v] : schema.items()) {
    if (k == "properties" || k == "$defs") {
      if (v.is_object())
        for (auto& [name, sub] : v.items()) f(sub);
    } else if (k == "items" || k == "additionalProperties") {
      if (v.is_object()) f(v);
    } else if (k == "anyOf") {
      if (v.is_array())
        for (auto& sub : v) f(sub);
    }
  }
}

// Rewrites every `$ref` in place to point into `$defs`.
void rewrite_refs(Json& schema) {
  if (schema.is_object() && schema.contains("$ref") && schema["$ref"].is_string())
    schema["$ref"] = kDefsPrefix + ref_name(schema["$ref"].get<std::string>());
  for_each_subschema(schema, [](Json& sub) { rewrite_refs(sub); });
}

}  // namespace

void TypeSet::add(const std::string& name, Json schema, Location where, std::map<std::string, int> lines) {
  if (name.empty()) throw ConfigError(where, "a type needs a name");
  if (types_.count(name)) throw ConfigError(where, "type '" + name + "' is defined twice");
  check_schema(schema, where, lines);
  types_[name] = Entry{std::move(schema), std::move(where)};
}

void TypeSet::collect_refs(const Json& schema, const Location& where, Json& defs) const {
  for_each_subschema(schema, [&](const Json& sub) { collect_refs(sub, where, defs); });
  if (!schema.is_object() || !schema.contains("$ref") || !schema["$ref"].is_string()) return;
  const std::string target = ref_name(schema["$ref"].get<std::string>());
  if (defs.contains(target)) return;
  auto it = types_.find(target);
  if (it == types_.end()) throw ConfigError(where, "`$ref: " + target + "` names no declared type");
  defs[target] = it->second.schema;  // placeholder first: recursive types terminate
  collect_refs(it->second.schema, it->second.where, defs);
}

TypePtr TypeSet::make(const std::string& name, Json schema, Location where,
                      const std::map<std::string, int>& lines) const {
  check_schema(schema, where, lines);
  Json defs = Json::object();
  collect_refs(schema, where, defs);
  if (schema.is_object() && schema.contains("$ref") && schema.size() == 1) {
    // A bare reference: the named type itself is the root.
    const std::string target = ref_name(schema["$ref"].get<std::string>());
    schema = types_.at(target).schema;
  }
  rewrite_refs(schema);
  if (!defs.empty() && schema.is_object()) {  // a boolean schema refers to nothing
    for (auto& [k, v] : defs.items()) rewrite_refs(v);
    schema["$defs"] = std::move(defs);
  }
  return std::make_shared<const Type>(name, std::move(schema));
}

TypePtr TypeSet::get(const std::string& name, const Location& where) const {
  auto it = types_.find(name);
  if (it == types_.end()) throw ConfigError(where, "unknown type '" + name + "'");
  return make(name, Json{{"$ref", name}}, it->second.where);
}

std::vector<std::string> TypeSet::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : types_) out.push_back(k);
  return out;
}

}  // namespace skein
