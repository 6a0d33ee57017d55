#include "record.hpp"

#include <charconv>

#include "util/json_dispose.hpp"

namespace skein {

size_t keys_added(const std::vector<Node>& nodes) {
  size_t keys = 0;
  for (const auto& node : nodes)
    keys += std::holds_alternative<Parallel>(node) ? std::get<Parallel>(node).branches.size() : 1;
  return keys;
}

Record descendant(Record& from, size_t k, size_t n, bool numbered) {
  const bool last = k + 1 == n;
  std::string id = last ? std::move(from.id) : from.id;
  if (numbered) append_fan_out(id, k);
  return {from.row_id, from.line, last ? std::move(from.history) : copy_with_room(from.history, room_of(from.history)),
          std::move(id)};
}

void append_fan_out(std::string& id, size_t k) {
  char digits[24];
  id += '.';
  id.append(digits, std::to_chars(digits, digits + sizeof digits, k).ptr);
}

void dispose_histories(std::vector<Record>& records) {
  for (auto& r : records) dispose(r.history);
}

}  // namespace skein
