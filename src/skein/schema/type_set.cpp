// Named types and the rewrite of `$ref: Name` into a self-contained schema with `$defs`.
#include "skein/schema.hpp"
#include "subschemas.hpp"

namespace skein {
namespace {

const std::string kDefsPrefix = "#/$defs/";

std::string ref_name(const std::string& ref) {
  return ref.rfind(kDefsPrefix, 0) == 0 ? ref.substr(kDefsPrefix.size()) : ref;
}

bool is_pointer(const std::string& ref) { return ref.rfind("#", 0) == 0; }

// Rewrites every `$ref` in place: a type's name to its place under `$defs`; a pointer into the
// type (`#/…`) to the same place under `base` (where the type now lives in another's `$defs`).
void rewrite_refs(Json& schema, const std::string& base = "") {
  if (schema.is_object() && schema.contains("$ref") && schema["$ref"].is_string()) {
    const std::string ref = schema["$ref"].get<std::string>();
    if (!is_pointer(ref))
      schema["$ref"] = kDefsPrefix + ref;
    else if (!base.empty())
      schema["$ref"] = "#" + base + ref.substr(1);
  }
  for_each_subschema(schema, [&](Json& sub, const std::string&) { rewrite_refs(sub, base); });
}

}  // namespace

void TypeSet::add(const std::string& name, Json schema, Location where, std::map<std::string, int> lines) {
  if (name.empty()) throw ConfigError(where, "a type needs a name");
  if (types_.count(name)) throw ConfigError(where, "type '" + name + "' is defined twice");
  check_schema(schema, where, lines);
  types_[name] = Entry{std::move(schema), std::move(where)};
}

void TypeSet::collect_refs(const Json& schema, const Location& where, Json& defs) const {
  for_each_subschema(schema, [&](const Json& sub, const std::string&) { collect_refs(sub, where, defs); });
  if (!schema.is_object() || !schema.contains("$ref") || !schema["$ref"].is_string()) return;
  if (is_pointer(schema["$ref"].get<std::string>())) return;  // into the type itself
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
    for (auto& [k, v] : defs.items()) {
      rewrite_refs(v, "/$defs/" + k);
      if (schema.contains("$defs") && schema["$defs"].contains(k) && schema["$defs"][k] != v)
        throw ConfigError(where, "`$defs` entry '" + k + "' has the name of a type it refers to: rename one");
      schema["$defs"][k] = std::move(v);
    }
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
