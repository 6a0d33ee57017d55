// `skein inspect GRAPH.yaml`: the graph checks (errors stop with file:line, warnings are listed),
// the start node's required inputs and every node in discovery order with its fields' sources and
// successors; or a Mermaid flowchart.
#include <fmt/format.h>

#include <iostream>

#include "commands.hpp"
#include "skein/graph.hpp"

namespace skein::app {
namespace {

std::string source_of(const Field& f) {
  switch (f.source) {
    case FieldSource::dep:
      return "dep " + f.dep;
    case FieldSource::recall:
      return "recall " + f.recall;
    case FieldSource::gate:
      return "gate \"" + f.gate + "\"";
    case FieldSource::plain:
      break;
  }
  return "plain";
}

std::string type_of(const Field& f) {
  if (!f.type) return "";
  const Json& s = f.type->schema();
  return s.contains("type") ? " : " + s["type"].dump() : " : " + f.type->name();
}

}  // namespace

int inspect_graph(const std::string& file, bool mermaid) {
  std::vector<GraphWarning> warnings;
  Graph g;
  try {
    g = load_graph(file, &warnings);
  } catch (const Error& e) {
    std::cerr << "skein: " << e.what() << "\n";
    return 2;
  }
  if (mermaid) {
    std::cout << graph_mermaid(g);
    return 0;
  }
  std::string out = fmt::format("graph {}  ({})\nstart: {}   max_iters: {}\n", g.name, g.file, g.start,
                                g.max_iters ? std::to_string(g.max_iters) : "unlimited");
  std::string inputs;
  for (const auto& f : g.nodes.at(g.start).fields)
    if (f.source == FieldSource::plain) inputs += (inputs.empty() ? "" : ", ") + f.name + type_of(f);
  out += "required start input: " + (inputs.empty() ? std::string("none") : inputs) + "\n";
  for (const auto& name : discover(g)) {
    const NodeType& n = g.nodes.at(name);
    std::string next;
    for (const auto& s : n.next) next += (next.empty() ? "" : ", ") + s;
    out += fmt::format("node {}  engine {}  -> {}  [{}]\n", name, n.engine.value_or("local"),
                       next.empty() ? "end (terminal)" : next, n.where.str());
    if (n.instruction) out += "  instruction: " + *n.instruction + "\n";
    for (const auto& f : n.fields) out += fmt::format("  {}{}  ({})\n", f.name, type_of(f), source_of(f));
  }
  for (const auto& w : warnings) out += "warning: " + w.where.str() + ": " + w.message + "\n";
  out += "ok: successors, deps (no cycles), functions and recalls check\n";
  std::cout << out;
  return 0;
}

}  // namespace skein::app
