// Graph checks (SPEC §4): discovery from the start node, successors and functions that exist, dep
// cycles spelled out, recalls that some earlier node can satisfy; nodes that cannot reach an end
// are warnings.
#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "skein/graph.hpp"

namespace skein {
namespace {

constexpr const char* kEnd = "end";

std::set<std::string> reachable_from(const Graph& g, const std::string& from) {
  std::set<std::string> seen;
  std::deque<std::string> todo{from};
  while (!todo.empty()) {
    const std::string n = todo.front();
    todo.pop_front();
    if (!seen.insert(n).second) continue;
    for (const auto& next : g.nodes.at(n).next)
      if (next != kEnd) todo.push_back(next);
  }
  return seen;
}

// Every node's reachable set, computed once for all the checks.
using Reach = std::map<std::string, std::set<std::string>>;

Reach reach_all(const Graph& g) {
  Reach out;
  for (const auto& [name, node] : g.nodes) out[name] = reachable_from(g, name);
  return out;
}

void check_successors(const Graph& g) {
  if (!g.nodes.count(g.start)) throw ConfigError({g.file, 0}, "the start node '" + g.start + "' is not a node");
  for (const auto& [name, node] : g.nodes)
    for (const auto& next : node.next)
      if (next != kEnd && !g.nodes.count(next))
        throw ConfigError(node.where, "node '" + name + "': `next` names '" + next + "', which is not a node");
}

// The dep cycle through `name`, spelled "a -> b -> a", or "".
std::string cycle_from(const Graph& g, const std::string& name, std::vector<std::string>& path) {
  if (std::find(path.begin(), path.end(), name) != path.end()) {
    std::string out;
    for (auto it = std::find(path.begin(), path.end(), name); it != path.end(); ++it) out += *it + " -> ";
    return out + name;
  }
  auto it = g.deps.find(name);
  if (it == g.deps.end()) return "";
  path.push_back(name);
  for (const auto& [param, source] : it->second.params)
    if (source.dep)
      if (std::string c = cycle_from(g, *source.dep, path); !c.empty()) return c;
  path.pop_back();
  return "";
}

void check_function(const Graph& g, const std::string& name, const Location& at, bool require_functions) {
  auto spec = g.deps.find(name);
  const bool is_exec = spec != g.deps.end() && !spec->second.exec.empty();
  // A node-typed dep (the model fills that node), a command, a registered function, or one the
  // host registers before running.
  if (g.nodes.count(name) || is_exec || g.functions.count(name) || !require_functions) return;
  throw ConfigError(at,
                    "dep '" + name + "' is neither a function defined under `functions:` nor one registered in C++");
}

void check_deps(const Graph& g, bool require_functions) {
  for (const auto& [name, spec] : g.deps) {
    for (const auto& [param, source] : spec.params)
      if (source.dep) check_function(g, *source.dep, source.where, require_functions);
    std::vector<std::string> path;
    if (std::string cycle = cycle_from(g, name, path); !cycle.empty())
      throw ConfigError(spec.where, "dep cycle: " + cycle);
  }
}

// Whether node `n` can run before node `at` in some run: start ->* n ->+ at.
bool comes_before(const Graph& g, const Reach& reach, const std::string& n, const std::string& at) {
  if (!reach.at(g.start).count(n)) return false;
  for (const auto& next : g.nodes.at(n).next)
    if (next != kEnd && reach.at(next).count(at)) return true;
  return false;
}

// A recall of `type` from `at` can be satisfied when a node of that type, or a node with a plain
// field of that type, can run before `at`.
bool recall_possible(const Graph& g, const Reach& reach, const std::string& type, const std::string& at) {
  for (const auto& [name, node] : g.nodes) {
    if (!comes_before(g, reach, name, at)) continue;
    if (name == type) return true;
    for (const auto& f : node.fields)
      if (f.source == FieldSource::plain && f.type && f.type->name() == type) return true;
  }
  return false;
}

void check_fields(const Graph& g, const Reach& reach, bool require_functions) {
  for (const auto& [name, node] : g.nodes)
    for (const auto& f : node.fields) {
      if (f.source == FieldSource::dep) check_function(g, f.dep, f.where, require_functions);
      if (f.source == FieldSource::recall && !recall_possible(g, reach, f.recall, name))
        throw ConfigError(f.where, "node '" + name + "', field '" + f.name + "': recall of " + f.recall +
                                       " can never be satisfied (no " + f.recall +
                                       " node or plain field of that type can come before this node)");
    }
  for (const auto& [dep, spec] : g.deps)
    for (const auto& [param, source] : spec.params)
      if (source.recall && !g.nodes.count(*source.recall) && !g.types.contains(*source.recall))
        throw ConfigError(source.where, "dep '" + dep + "', parameter '" + param + "': recall of unknown type '" +
                                            *source.recall + "'");
}

}  // namespace

std::string NodeType::only_successor() const { return next.empty() ? std::string(kEnd) : next[0]; }

bool NodeType::may_end() const { return next.empty() || std::count(next.begin(), next.end(), kEnd) > 0; }

const Field* NodeType::field(const std::string& n) const {
  for (const auto& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}

std::vector<std::string> discover(const Graph& g) {
  std::vector<std::string> order;
  std::set<std::string> seen;
  std::deque<std::string> todo{g.start};
  while (!todo.empty()) {
    const std::string n = todo.front();
    todo.pop_front();
    if (!g.nodes.count(n) || !seen.insert(n).second) continue;
    order.push_back(n);
    for (const auto& next : g.nodes.at(n).next)
      if (next != kEnd) todo.push_back(next);
  }
  return order;
}

std::vector<GraphWarning> check_graph(const Graph& g, bool require_functions) {
  check_successors(g);
  check_deps(g, require_functions);
  const Reach reach = reach_all(g);
  check_fields(g, reach, require_functions);
  std::vector<GraphWarning> warnings;
  const auto found = discover(g);
  for (const auto& [name, node] : g.nodes) {
    if (std::find(found.begin(), found.end(), name) == found.end()) {
      warnings.push_back({node.where, "node '" + name + "' is never reached from the start node '" + g.start + "'"});
      continue;
    }
    bool can_end = false;
    for (const auto& r : reach.at(name)) can_end = can_end || g.nodes.at(r).may_end();
    if (!can_end)
      warnings.push_back({node.where, "node '" + name + "' cannot reach an end: runs through it stop at max_iters"});
  }
  return warnings;
}

std::string graph_mermaid(const Graph& g) {
  std::string out = "flowchart TD\n";
  for (const auto& name : discover(g)) {
    const NodeType& node = g.nodes.at(name);
    out += "  " + name + "[\"" + name + "\"]\n";
    for (const auto& next : node.next) out += "  " + name + " --> " + (next == kEnd ? "end_([end])" : next) + "\n";
    if (node.next.empty()) out += "  " + name + " --> end_([end])\n";
  }
  return out;
}

}  // namespace skein
