#include "quick_check.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace skein {
namespace {

bool known_keywords(const Json& schema) {
  static const std::set<std::string> known{
      "type",  "properties",  "required", "additionalProperties", "items", "enum",
      "title", "description", "$defs"};  // unused: a `$ref` to them is not a known form
  return std::all_of(schema.items().begin(), schema.items().end(),
                     [](const auto& kv) { return known.count(kv.key()) > 0; });
}

QuickCheck primitive(const std::string& type) {
  if (type == "string") return [](const Json& v) { return v.is_string(); };
  if (type == "integer") return [](const Json& v) { return v.is_number_integer(); };
  if (type == "number") return [](const Json& v) { return v.is_number(); };
  if (type == "boolean") return [](const Json& v) { return v.is_boolean(); };
  if (type == "null") return [](const Json& v) { return v.is_null(); };
  return nullptr;
}

QuickCheck string_enum(const Json& values) {
  if (!values.is_array() || values.empty()) return nullptr;
  std::vector<std::string> allowed;
  for (const auto& v : values) {
    if (!v.is_string()) return nullptr;
    allowed.push_back(v.get<std::string>());
  }
  return [allowed = std::move(allowed)](const Json& v) {
    return v.is_string() && std::find(allowed.begin(), allowed.end(), v.get_ref<const std::string&>()) != allowed.end();
  };
}

QuickCheck object(const Json& schema) {
  std::map<std::string, QuickCheck, std::less<>> properties;
  if (schema.contains("properties")) {
    if (!schema["properties"].is_object()) return nullptr;
    for (const auto& [name, sub] : schema["properties"].items())
      if (!(properties[name] = quick_check(sub))) return nullptr;
  }
  std::vector<std::string> required;
  if (schema.contains("required")) {
    if (!schema["required"].is_array()) return nullptr;
    for (const auto& r : schema["required"]) {
      if (!r.is_string()) return nullptr;
      required.push_back(r.get<std::string>());
    }
  }
  const Json additional = schema.value("additionalProperties", Json(true));
  if (!additional.is_boolean()) return nullptr;
  return [properties = std::move(properties), required = std::move(required),
          closed = !additional.get<bool>()](const Json& v) {
    if (!v.is_object()) return false;
    for (const auto& name : required)
      if (!v.contains(name)) return false;
    for (const auto& [key, value] : v.get_ref<const Json::object_t&>()) {
      const auto p = properties.find(key);
      if (p == properties.end() ? closed : !p->second(value)) return false;
    }
    return true;
  };
}

QuickCheck array(const Json& schema) {
  QuickCheck items = [](const Json&) { return true; };
  if (schema.contains("items") && !(items = quick_check(schema["items"]))) return nullptr;
  return [items = std::move(items)](const Json& v) {
    return v.is_array() && std::all_of(v.begin(), v.end(), [&](const Json& item) { return items(item); });
  };
}

}  // namespace

QuickCheck quick_check(const Json& schema) {
  if (!schema.is_object() || !known_keywords(schema)) return nullptr;
  if (schema.contains("enum")) {  // with no keyword but a `type` of string and the annotations
    const Json type = schema.value("type", Json("string"));
    const bool alone = type == "string" && !schema.contains("properties") && !schema.contains("required") &&
                       !schema.contains("additionalProperties") && !schema.contains("items");
    return alone ? string_enum(schema["enum"]) : nullptr;
  }
  if (!schema.contains("type") || !schema["type"].is_string()) return nullptr;
  const std::string& type = schema["type"].get_ref<const std::string&>();
  if (type == "object") return object(schema);
  const bool plain =
      !schema.contains("properties") && !schema.contains("required") && !schema.contains("additionalProperties");
  if (type == "array" && plain) return array(schema);
  if (plain && !schema.contains("items")) return primitive(type);
  return nullptr;
}

}  // namespace skein
