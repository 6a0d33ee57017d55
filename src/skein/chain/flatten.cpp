#include "flatten.hpp"

#include <vector>

namespace skein {
namespace {

struct Column {
  std::string key;
  const Json* value;
};

void columns(std::vector<Column>& out, std::string prefix, const Json& value) {
  if (!value.is_object() || value.empty()) {
    for (auto& c : out)
      if (c.key == prefix) {
        c.value = &value;
        return;
      }
    out.push_back({std::move(prefix), &value});
    return;
  }
  for (const auto& [k, v] : value.items()) columns(out, prefix + "." + k, v);
}

}  // namespace

void flattened_line(const Json& history, const std::string& id, JsonLine& out) {
  static const Json kNull;
  const Json id_value = id;
  const auto row = history.find("row_id");
  std::vector<Column> cols{{"row_id", row == history.end() ? &kNull : &*row}, {"id", &id_value}};
  for (const auto& [key, value] : history.items())
    if (key != "row_id") columns(cols, key, value);
  out.clear().raw("{");
  for (size_t i = 0; i < cols.size(); ++i) out.raw(i ? "," : "").string(cols[i].key).raw(":").value(*cols[i].value);
  out.raw("}\n");
}

}  // namespace skein
