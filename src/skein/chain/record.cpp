#include "record.hpp"

namespace skein {

size_t keys_added(const std::vector<Node>& nodes) {
  size_t keys = 0;
  for (const auto& node : nodes)
    keys += std::holds_alternative<Parallel>(node) ? std::get<Parallel>(node).branches.size() : 1;
  return keys;
}

}  // namespace skein
