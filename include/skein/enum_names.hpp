// The naming scheme of Skein's public enums: each enum E has `const char* to_string(E)`, the name
// its values have at the JSON, SQL and HTTP boundaries (and in messages), and an EnumCount<E>
// specialisation; enum_from<E>(name) is the inverse. Inside Skein values stay typed: strings are
// made and read only at those boundaries. Each to_string is a switch without a default, so a new
// value left unnamed is a build error (-Werror=switch); a new last value EnumCount misses fails
// enum_names_test.
#pragma once
#include <optional>
#include <string_view>

namespace skein {

// How many values E has (they run from 0 to count - 1).
template <typename E>
struct EnumCount;

// The value named `name`; nullopt for a name no value has.
template <typename E>
std::optional<E> enum_from(std::string_view name) {
  for (int i = 0; i < EnumCount<E>::value; ++i)
    if (name == to_string(E(i))) return E(i);
  return std::nullopt;
}

}  // namespace skein
