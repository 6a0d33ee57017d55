// `skein inspect FILE`: loads a chain with every check a run makes before it starts (types, unknown
// keys, templates and expressions against the history each node will see), then prints the tree of
// nodes with engines and types, or a Mermaid flowchart of graph.json.
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "skein/chain.hpp"
#include "skein/graph.hpp"

namespace skein::app {
namespace {

std::string describe(const Step& s) {
  return fmt::format("step {}  engine {} -> {}", s.id, s.engine,
                     s.output->name().empty() ? "(inline type)" : s.output->name());
}

std::string describe(const Apply& a) {
  std::string out = fmt::format("apply {}  fn {}", a.id, fn_name(a));
  if (a.kind == ApplyKind::filter) out += "  where " + a.where->source();
  if (a.kind == ApplyKind::explode) out += "  field " + a.field->source();
  if (a.kind == ApplyKind::native) out += "  (a native function the host program registers)";
  return out;
}

void print_nodes(const std::vector<Node>& nodes, const std::string& indent, std::string& out);

void print_branch(const Branch& b, const std::string& indent, bool last, std::string& out) {
  out += fmt::format("{}{}branch {}{}\n", indent, last ? "└─ " : "├─ ", b.id, b.join ? "  join as " + *b.join : "");
  print_nodes(b.steps, indent + (last ? "   " : "│  "), out);
}

void print_nodes(const std::vector<Node>& nodes, const std::string& indent, std::string& out) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    const bool last = i + 1 == nodes.size();
    const std::string lead = indent + (last ? "└─ " : "├─ ");
    const Node& node = nodes[i];
    if (const Step* s = std::get_if<Step>(&node))
      out += fmt::format("{}{}  [{}]\n", lead, describe(*s), s->where.str());
    else if (const Apply* a = std::get_if<Apply>(&node))
      out += fmt::format("{}{}  [{}]\n", lead, describe(*a), a->at.str());
    else if (const Branch* b = std::get_if<Branch>(&node))
      print_branch(*b, indent, last, out);
    else {
      const auto& branches = std::get<Parallel>(node).branches;
      out += fmt::format("{}parallel group {}\n", lead, node_id(node));
      for (size_t k = 0; k < branches.size(); ++k)
        print_branch(branches[k], indent + (last ? "   " : "│  "), k + 1 == branches.size(), out);
    }
  }
}

// The chain's types by name (an inline type by its step), in the order they first appear.
void collect_types(const std::vector<Node>& nodes, std::vector<std::pair<std::string, TypePtr>>& out) {
  auto add = [&](const std::string& name, const TypePtr& t) {
    for (const auto& [n, _] : out)
      if (n == name) return;
    out.emplace_back(name, t);
  };
  for (const Node& node : nodes) {
    if (const Step* s = std::get_if<Step>(&node))
      add(s->output->name().empty() ? "(inline type of step " + s->id + ")" : s->output->name(), s->output);
    else if (const Branch* b = std::get_if<Branch>(&node))
      collect_types(b->steps, out);
    else if (const Parallel* p = std::get_if<Parallel>(&node))
      for (const auto& branch : p->branches) collect_types(branch.steps, out);
  }
}

std::string join(const std::set<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out.empty() ? "-" : out;
}

// Per type, the keywords the grammar enforces while generating and those only validated after
// (a refused output is retried with the reason).
std::string describe_types(const Chain& chain) {
  std::vector<std::pair<std::string, TypePtr>> types;
  if (chain.input)
    types.emplace_back("input " + (chain.input->name().empty() ? "type" : chain.input->name()), chain.input);
  collect_types(chain.steps, types);
  bool openai = false;  // an engine that gets the schema as response_format
  for (const auto& [name, e] : chain.engines)
    openai = openai || e.backend == "openai" || e.backend == "vllm" || e.backend == "llama-server";
  std::string out = "types (keywords enforced while generating | only validated after):\n";
  for (const auto& [name, type] : types) {
    const KeywordReport r = keyword_report(type->schema());
    out += fmt::format("  {}: enforced {} | validated {}\n", name, join(r.enforced), join(r.validated));
    if (openai) out += fmt::format("    to openai-compatible engines: {}\n", openai_schema_mode(type->schema()));
  }
  return out;
}

std::string mermaid_id(const std::string& id) {
  std::string out = "n_";
  for (char c : id) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::string mermaid(const Chain& chain) {
  const Json graph = chain_json(chain);
  std::string out = "flowchart TD\n  n_input([input])\n  n_output([output])\n";
  for (const auto& n : graph.at("nodes")) {
    const std::string id = n.at("id"), kind = n.at("kind");
    if (kind == "step")
      out += fmt::format("  {}[\"{}<br/>step on {}\"]\n", mermaid_id(id), id, n.at("engine").get<std::string>());
    else if (kind == "apply")
      out += fmt::format("  {}{{{{\"{}<br/>{}\"}}}}\n", mermaid_id(id), id, n.at("fn").get<std::string>());
    else
      out += fmt::format("  {}[[\"branch {}\"]]\n", mermaid_id(id), id);
  }
  for (const auto& e : graph.at("edges"))
    out += fmt::format("  {} --> {}\n", mermaid_id(e[0].get<std::string>()), mermaid_id(e[1].get<std::string>()));
  return out;
}

}  // namespace

int inspect_command(const std::string& file, bool as_mermaid) {
  if (is_graph_file(file)) return inspect_graph(file, as_mermaid);
  Chain chain;
  std::vector<ChainWarning> warnings;
  try {
    chain = load_chain(file, &warnings);
  } catch (const Error& e) {
    std::cerr << "skein: " << e.what() << "\n";
    return 2;
  }
  if (as_mermaid) {
    std::cout << mermaid(chain);
    return 0;
  }
  std::string out = fmt::format("chain {}  ({})\n", chain.name, chain.file);
  out += fmt::format("input type: {}\n", chain.input ? chain.input->name() : "none (plain objects)");
  out += fmt::format("batch size: {}\n", chain.batch_size);
  out += "engines: local (built in)";
  for (const auto& [name, e] : chain.engines) out += fmt::format(", {} ({} {})", name, e.backend, e.model);
  out += "\n";
  print_nodes(chain.steps, "", out);
  out += describe_types(chain);
  for (const auto& w : warnings) out += "warning: " + w.where.str() + ": " + w.message + "\n";
  out += "ok: types, templates and expressions check against the history each node sees\n";
  std::cout << out;
  return 0;
}

}  // namespace skein::app
