#include "flatten.hpp"

#include <string_view>
#include <vector>

namespace skein {
namespace {

// A row's columns, their keys in one buffer: kept from row to row (per thread), so a row allocates
// nothing once the buffers have grown to the rows' size.
class Columns {
 public:
  void clear() {
    keys_.clear();
    list_.clear();
  }
  // The key so far is prefix_; nested objects extend it with ".<key>".
  void start(std::string_view key) { prefix_.assign(key); }
  void walk(const Json& value) {
    if (!value.is_object() || value.empty()) return add(prefix_, &value);
    const size_t n = prefix_.size();
    for (const auto& [k, v] : value.get_ref<const Json::object_t&>()) {
      prefix_.resize(n);
      prefix_ += '.';
      prefix_ += k;
      walk(v);
    }
    prefix_.resize(n);
  }
  // A key met again keeps its first place and takes the new value.
  void add(std::string_view key, const Json* value) {
    for (auto& c : list_)
      if (key_of(c) == key) {
        c.value = value;
        return;
      }
    list_.push_back({keys_.size(), key.size(), value});
    keys_ += key;
  }
  // `id` is the value of the column whose value is null.
  void write(JsonLine& out, std::string_view id) const {
    out.clear().raw("{");
    for (size_t i = 0; i < list_.size(); ++i) {
      out.raw(i ? "," : "").string(key_of(list_[i])).raw(":");
      if (list_[i].value)
        out.value(*list_[i].value);
      else
        out.string(id);
    }
    out.raw("}\n");
  }

 private:
  struct Column {
    size_t at, size;  // in keys_
    const Json* value;
  };
  std::string_view key_of(const Column& c) const { return {keys_.data() + c.at, c.size}; }
  std::string keys_, prefix_;
  std::vector<Column> list_;
};

}  // namespace

void flattened_line(const Json& history, const std::string& id, JsonLine& out) {
  static const Json kNull;
  thread_local Columns cols;
  const auto row = history.find("row_id");
  cols.clear();
  cols.add("row_id", row == history.end() ? &kNull : &*row);
  cols.add("id", nullptr);  // the id, unless a node named `id` takes the column
  for (const auto& [key, value] : history.get_ref<const Json::object_t&>())
    if (key != "row_id") {
      cols.start(key);
      cols.walk(value);
    }
  cols.write(out, id);
}

}  // namespace skein
