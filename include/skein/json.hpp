// Records are JSON objects whose key order is kept.
#pragma once
#include <algorithm>
#include <cstddef>
#include <nlohmann/json.hpp>

namespace skein {
using Json = nlohmann::ordered_json;

// An empty object, made directly: Json::object() goes through nlohmann's initializer-list
// constructor, which every graph transition and chain record would pay for.
inline Json empty_object() { return Json(Json::value_t::object); }

// An ordered object that outgrows its room copies every member it holds, deeply: its pairs'
// keys are const, so std::vector cannot move them. Objects that grow key by key on a hot path
// (a chain record's history) are made with room for the keys they will get.
inline Json object_with_room(size_t keys) {
  Json object = empty_object();
  object.get_ref<Json::object_t&>().reserve(keys);
  return object;
}

// A copy of the object `from`, with room for `keys` keys (or as many as it has, if more).
inline Json copy_with_room(const Json& from, size_t keys) {
  const auto& members = from.get_ref<const Json::object_t&>();
  Json copy = object_with_room(std::max(members.size(), keys));
  auto& into = copy.get_ref<Json::object_t&>();
  for (const auto& member : members) into.emplace_back(member);  // keys are unique already
  return copy;
}

namespace detail {
inline void add_members(Json::object_t&) {}
template <typename Value, typename... Rest>
void add_members(Json::object_t& into, const char* key, Value&& value, Rest&&... rest) {
  into.emplace_back(key, Json(std::forward<Value>(value)));
  add_members(into, std::forward<Rest>(rest)...);
}
}  // namespace detail

// The object {key: value, ...} of these keys and values, in this order; the keys must differ.
// Made member by member into room for them all: a braced Json{{"k", v}, ...} first makes every
// member a two-element array, then converts (an allocation or two per member, on every event).
template <typename... KeysAndValues>
Json json_object(KeysAndValues&&... keys_and_values) {
  static_assert(sizeof...(KeysAndValues) % 2 == 0, "json_object takes keys and values in pairs");
  Json object = object_with_room(sizeof...(KeysAndValues) / 2);
  detail::add_members(object.get_ref<Json::object_t&>(), std::forward<KeysAndValues>(keys_and_values)...);
  return object;
}
}  // namespace skein
