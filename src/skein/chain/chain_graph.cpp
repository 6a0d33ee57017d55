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

void add_paths(const std::vector<Node>& nodes, const std::string& prefix,
               std::vector<std::pair<std::string, const Node*>>& out) {
  for (const auto& node : nodes) {
    if (const Parallel* p = std::get_if<Parallel>(&node)) {
      for (const auto& b : p->branches) add_paths(b.steps, prefix + b.id + "/", out);
    } else if (const Branch* b = std::get_if<Branch>(&node)) {
      add_paths(b->steps, prefix + b->id + "/", out);
    } else {
      out.emplace_back(prefix + node_id(node), &node);
    }
  }
}

Json describe(const Apply& a) {
  return {{"id", a.id}, {"kind", "apply"}, {"fn", fn_name(a)}, {"location", a.at.str()}};
}

// Adds `nodes` after `from` (the names records come from); returns where records go on from.
std::vector<std::string> add_nodes(const std::vector<Node>& nodes, std::vector<std::string> from, Json& out_nodes,
                                   Json& edges);

std::vector<std::string> add_branch(const Branch& b, const std::vector<std::string>& from, Json& out_nodes,
                                    Json& edges) {
  out_nodes.push_back(
      {{"id", b.id}, {"kind", "branch"}, {"join", b.join ? Json(*b.join) : Json()}, {"location", b.at.str()}});
  for (const auto& f : from) edges.push_back({f, b.id});
  const auto last = add_nodes(b.steps, {b.id}, out_nodes, edges);
  return b.join ? last : std::vector<std::string>{};
}

std::vector<std::string> add_nodes(const std::vector<Node>& nodes, std::vector<std::string> from, Json& out_nodes,
                                   Json& edges) {
  for (const auto& node : nodes) {
    std::vector<std::string> next = from;  // records also pass a branch by, on the main line
    if (const Branch* b = std::get_if<Branch>(&node)) {
      for (const auto& f : add_branch(*b, from, out_nodes, edges)) next.push_back(f);
    } else if (const Parallel* p = std::get_if<Parallel>(&node)) {
      for (const auto& br : p->branches)
        for (const auto& f : add_branch(br, from, out_nodes, edges)) next.push_back(f);
    } else {
      out_nodes.push_back(std::get_if<Step>(&node) ? describe(std::get<Step>(node)) : describe(std::get<Apply>(node)));
      for (const auto& f : from) edges.push_back({f, node_id(node)});
      next = {node_id(node)};
    }
    from = std::move(next);
  }
  return from;
}

}  // namespace

Json chain_json(const Chain& chain) {
  Json nodes = Json::array(), edges = Json::array();
  for (const auto& f : add_nodes(chain.steps, {"input"}, nodes, edges)) edges.push_back({f, "output"});
  return {{"chain", chain.name}, {"nodes", nodes}, {"edges", edges}};
}

std::vector<std::pair<std::string, const Node*>> chain_nodes(const Chain& chain) {
  std::vector<std::pair<std::string, const Node*>> out;
  add_paths(chain.steps, "", out);
  return out;
}

}  // namespace skein
