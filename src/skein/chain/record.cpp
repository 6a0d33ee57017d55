#include "record.hpp"

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
  return {from.row_id, from.line, last ? std::move(from.history) : copy_with_room(from.history, room_of(from.history)),
          numbered ? from.id + "." + std::to_string(k)
          : last   ? std::move(from.id)
                   : std::string(from.id)};
}

void dispose_histories(std::vector<Record>& records) {
  for (auto& r : records) dispose(r.history);
}

}  // namespace skein
