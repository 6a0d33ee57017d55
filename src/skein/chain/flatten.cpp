#include "flatten.hpp"

namespace skein {
namespace {

void flatten_into(Json& out, const std::string& prefix, const Json& value) {
  if (!value.is_object() || value.empty()) {
    out[prefix] = value;
    return;
  }
  for (const auto& [k, v] : value.items()) flatten_into(out, prefix + "." + k, v);
}

}  // namespace

Json flatten_history(const Json& history, const std::string& id) {
  Json out{{"row_id", history.value("row_id", Json())}, {"id", id}};
  for (const auto& [key, value] : history.items())
    if (key != "row_id") flatten_into(out, key, value);
  return out;
}

}  // namespace skein
