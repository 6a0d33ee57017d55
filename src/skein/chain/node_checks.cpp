#include "node_checks.hpp"

#include <regex>

namespace skein {

const std::string& node_id(const Node& node) {
  return std::visit([](const auto& n) -> const std::string& { return n.id; }, node);
}

const Location& node_location(const Node& node) {
  if (const Step* s = std::get_if<Step>(&node)) return s->where;
  return std::get<Apply>(node).at;
}

void check_node_id(const std::string& id, const Location& at, const Chain& chain) {
  static const std::regex kId("[A-Za-z_][A-Za-z0-9_]*");
  if (!std::regex_match(id, kId))
    throw ConfigError(at, "node id '" + id + "' must be letters, digits and _ (not starting with a digit)");
  for (const char* reserved : {"chain_input", "row_id", "input", "flattened", "errors"})
    if (id == reserved) throw ConfigError(at, "'" + id + "' is reserved and cannot be a node id");
  for (const auto& other : chain.steps)
    if (node_id(other) == id)
      throw ConfigError(at, "node id '" + id + "' is used twice (first at " + node_location(other).str() + ")");
}

void check_history_names(const std::set<std::string>& names, const std::string& what, const Location& at,
                         const Chain& chain) {
  std::set<std::string> known = {"chain_input", "row_id"};
  std::string available = "chain_input, row_id";
  for (const auto& node : chain.steps) known.insert(node_id(node)), available += ", " + node_id(node);
  for (const auto& name : names)
    if (!known.count(name))
      throw ConfigError(
          at, what + " reads '" + name + "', which the history does not have here (available: " + available + ")");
}

}  // namespace skein
