#include "chain_graph.hpp"

namespace skein {
namespace {

Json describe(const Step& s) {
  return {{"id", s.id},
          {"kind", "step"},
          {"engine", s.engine},
          {"output", s.output->schema()},
          {"location", s.where.str()}};
}

Json describe(const Apply& a) { return {{"id", a.id}, {"kind", "apply"}, {"fn", a.fn}, {"location", a.at.str()}}; }

void flatten_into(Json& out, const std::string& prefix, const Json& value) {
  if (!value.is_object() || value.empty()) {
    out[prefix] = value;
    return;
  }
  for (const auto& [k, v] : value.items()) flatten_into(out, prefix + "." + k, v);
}

}  // namespace

Json chain_graph(const Chain& chain) {
  Json nodes = Json::array(), edges = Json::array();
  std::string previous = "input";
  for (const auto& node : chain.steps) {
    nodes.push_back(std::visit([](const auto& n) { return describe(n); }, node));
    edges.push_back({previous, node_id(node)});
    previous = node_id(node);
  }
  edges.push_back({previous, "output"});
  return {{"chain", chain.name}, {"nodes", nodes}, {"edges", edges}};
}

Json flatten_history(const Json& history, const std::string& id) {
  Json out{{"row_id", history.value("row_id", Json())}, {"id", id}};
  for (const auto& [key, value] : history.items())
    if (key != "row_id") flatten_into(out, key, value);
  return out;
}

}  // namespace skein
