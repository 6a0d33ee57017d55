// The keywords of JSON Schema that hold subschemas, and a walk over them (one level).
#pragma once
#include <set>
#include <string>

#include "skein/json.hpp"

namespace skein {

// Keywords whose value is a mapping from names to subschemas (a name is never a keyword: a
// property may be called `$ref`). `dependencies` also maps to lists of names, which are skipped.
inline const std::set<std::string>& schema_maps() {
  static const std::set<std::string> keys = {"properties",  "patternProperties", "$defs",
                                             "definitions", "dependentSchemas",  "dependencies"};
  return keys;
}
// Keywords whose value is a list of subschemas (`items` too when it is a list: a tuple).
inline const std::set<std::string>& schema_lists() {
  static const std::set<std::string> keys = {"anyOf", "oneOf", "allOf", "prefixItems"};
  return keys;
}
// Keywords whose value is one subschema.
inline const std::set<std::string>& schema_values() {
  static const std::set<std::string> keys = {
      "items", "additionalProperties", "additionalItems", "not", "if", "then", "else", "contains", "propertyNames"};
  return keys;
}

// Calls f(sub, suffix) on each direct subschema of `schema` (an object or a boolean), where
// `suffix` is its JSON pointer below `schema` ("/properties/name", "/anyOf/0", "/items").
template <typename J, typename F>
void for_each_subschema(J& schema, F&& f) {
  if (!schema.is_object()) return;
  auto is_schema = [](const auto& v) { return v.is_object() || v.is_boolean(); };
  for (auto& [k, v] : schema.items()) {
    if (schema_maps().count(k)) {
      if (v.is_object())
        for (auto& [name, sub] : v.items())
          if (is_schema(sub)) f(sub, "/" + k + "/" + name);
    } else if (schema_lists().count(k) || (k == "items" && v.is_array())) {
      if (v.is_array())
        for (size_t i = 0; i < v.size(); ++i)
          if (is_schema(v[i])) f(v[i], "/" + k + "/" + std::to_string(i));
    } else if (schema_values().count(k) && is_schema(v)) {
      f(v, "/" + k);
    }
  }
}

}  // namespace skein
