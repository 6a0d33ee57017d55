#include "json_dispose.hpp"

namespace skein {
namespace {

// Empties every container below `value`, then `value` itself.
void empty(Json& value, int depth) {
  const bool deeper = depth < kDisposeDepth;
  if (value.is_object()) {
    auto& members = value.get_ref<Json::object_t&>();
    if (deeper)
      for (auto& member : members)
        if (member.second.is_structured()) empty(member.second, depth + 1);
    members.clear();
  } else if (value.is_array()) {
    auto& items = value.get_ref<Json::array_t&>();
    if (deeper)
      for (auto& item : items)
        if (item.is_structured()) empty(item, depth + 1);
    items.clear();
  }
}

}  // namespace

void dispose(Json& value) {
  empty(value, 0);
  value = nullptr;
}

}  // namespace skein
