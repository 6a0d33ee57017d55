// The graph file (SPEC §8): YAML (or JSON) to the one Graph representation. Every problem is a
// ConfigError at the file:line of the offending key, raised before anything runs.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/engine_file.hpp"
#include "schema/types_file.hpp"
#include "skein/graph.hpp"
#include "skein/sha256.hpp"
#include "util/yaml_json.hpp"

namespace skein {
namespace {

class GraphLoader {
 public:
  GraphLoader(std::string file, std::string dir) : file_(std::move(file)), dir_(std::move(dir)) {}

  Graph load(const YAML::Node& root) {
    if (!root.IsMap() || !root["graph"])
      throw ConfigError({file_, 1}, "missing `graph: <name>` (a chain file has `chain:` instead)");
    refuse_unknown_keys(file_, root,
                        {"graph", "start", "max_iters", "engine", "engines", "broker", "types", "functions", "nodes"},
                        "the graph file");
    Graph g;
    g.name = scalar_as<std::string>(file_, root["graph"], "`graph`");
    if (!root["start"]) throw ConfigError(where(file_, root), "missing `start: <node>`");
    g.start = scalar_as<std::string>(file_, root["start"], "`start`");
    if (root["max_iters"]) {
      g.max_iters = scalar_as<int>(file_, root["max_iters"], "`max_iters`");
      if (g.max_iters < 0)
        throw ConfigError(where(file_, root["max_iters"]), "`max_iters` must be 0 (unlimited) or more");
    }
    if (root["engines"]) g.engines = parse_engines(root["engines"], file_, dir_);
    if (root["broker"]) g.broker = parse_broker_limits(root["broker"], file_);
    if (root["engine"]) {
      g.engine = scalar_as<std::string>(file_, root["engine"], "`engine`");
      if (g.engine != "local" && !g.engines.count(g.engine))
        throw ConfigError(where(file_, root["engine"]), "the graph's engine '" + g.engine + "' is not declared");
    }
    if (root["types"]) load_types(file_, root["types"], g.types);
    if (!root["nodes"] || !root["nodes"].IsMap() || root["nodes"].size() == 0)
      throw ConfigError(where(file_, root), "`nodes` must be a non-empty mapping of node name to node");
    for (const auto& kv : root["nodes"]) g.nodes[kv.first.Scalar()].name = kv.first.Scalar();  // names first
    for (const auto& kv : root["nodes"]) load_node(kv.first, kv.second, g);
    for (auto& [name, node] : g.nodes)
      if (!node.engine) node.engine = g.engine;  // every model call of a node uses its engine
    if (root["functions"]) load_functions(root["functions"], g);
    return g;
  }

 private:
  void load_node(const YAML::Node& key, const YAML::Node& n, Graph& g) {
    NodeType& node = g.nodes.at(key.Scalar());
    node.where = where(file_, key);
    if (!n.IsMap()) throw ConfigError(node.where, "node '" + node.name + "' must be a mapping");
    refuse_unknown_keys(file_, n, {"instruction", "engine", "fields", "next"}, "node '" + node.name + "'");
    if (n["instruction"]) node.instruction = scalar_as<std::string>(file_, n["instruction"], "`instruction`");
    if (n["engine"]) {
      node.engine = scalar_as<std::string>(file_, n["engine"], "`engine`");
      if (*node.engine != "local" && !g.engines.count(*node.engine))
        throw ConfigError(where(file_, n["engine"]),
                          "node '" + node.name + "' uses unknown engine '" + *node.engine + "'");
    }
    if (n["next"]) node.next = scalar_list(file_, n["next"], "`next`");
    if (!n["fields"]) return;
    if (!n["fields"].IsMap())
      throw ConfigError(where(file_, n["fields"]), "`fields` must be a mapping of name to field");
    for (const auto& f : n["fields"]) node.fields.push_back(load_field(f.first, f.second, g, node.name));
  }

  // A field: a type name, or a mapping of a JSON Schema plus at most one source (dep, recall, gate)
  // and a description; made by the public builders (graph.hpp), as a graph built in C++ makes it.
  Field load_field(const YAML::Node& key, const YAML::Node& n, const Graph& g, const std::string& owner) {
    const std::string name = key.Scalar();
    const Location at = where(file_, key);
    const std::string what = "node '" + owner + "', field '" + name + "'";
    Field f;
    if (n.IsScalar()) {
      f = plain_field(name, g.types.get(n.Scalar(), where(file_, n)));
    } else {
      if (!n.IsMap()) throw ConfigError(at, what + " must be a type name or a mapping");
      if (int(bool(n["dep"])) + int(bool(n["recall"])) + int(bool(n["gate"])) > 1)
        throw ConfigError(at, what + " has more than one of `dep`, `recall` and `gate`");
      YAML::Node schema_node = YAML::Clone(n);
      for (const char* k : {"dep", "recall", "gate", "description"}) schema_node.remove(k);
      TypePtr type;  // a schema beside the source, or alone
      if (schema_node.size() > 0) {
        LineMap lines;
        type = g.types.make(owner + "." + name, yaml_to_json(schema_node, &lines), where(file_, n), lines);
      }
      if (n["dep"]) {
        f = dep_field(name, scalar_as<std::string>(file_, n["dep"], "`dep`"), type);
      } else if (n["recall"]) {
        const std::string recall = scalar_as<std::string>(file_, n["recall"], "`recall`");
        if (!g.nodes.count(recall) && !g.types.contains(recall))
          throw ConfigError(where(file_, n["recall"]), what + ": recall of unknown type '" + recall + "'");
        f = recall_field(g, name, recall);
        if (type) f.type = type;
      } else if (n["gate"]) {
        f = gate_field(name, scalar_as<std::string>(file_, n["gate"], "`gate`"), type);
      } else {
        f = plain_field(name, type);
      }
      if (n["description"]) f.description = scalar_as<std::string>(file_, n["description"], "`description`");
    }
    f.where = at;
    if (!f.type && (f.source == FieldSource::plain || f.source == FieldSource::gate))
      throw ConfigError(at, what + " needs a type (e.g. {type: string})");
    return f;
  }

  void load_functions(const YAML::Node& fns, Graph& g) {
    if (!fns.IsMap()) throw ConfigError(where(file_, fns), "`functions` must be a mapping of name to function");
    for (const auto& kv : fns) {
      DepSpec spec;
      spec.name = kv.first.Scalar();
      spec.where = where(file_, kv.first);
      const YAML::Node& n = kv.second;
      refuse_unknown_keys(file_, n, {"exec", "params"}, "function '" + spec.name + "'");
      if (!n["exec"]) throw ConfigError(spec.where, "function '" + spec.name + "' needs `exec: [command, args…]`");
      spec.exec = scalar_list(file_, n["exec"], "`exec`");
      if (n["params"])
        for (const auto& p : n["params"]) spec.params[p.first.Scalar()] = load_param(p.first, p.second, spec.name);
      g.deps[spec.name] = std::move(spec);
    }
  }

  ParamSource load_param(const YAML::Node& key, const YAML::Node& n, const std::string& fn) {
    ParamSource p;
    p.where = where(file_, key);
    refuse_unknown_keys(file_, n, {"dep", "recall"}, "parameter '" + key.Scalar() + "' of '" + fn + "'");
    if (n["dep"]) p.dep = scalar_as<std::string>(file_, n["dep"], "`dep`");
    if (n["recall"]) p.recall = scalar_as<std::string>(file_, n["recall"], "`recall`");
    if (!p.dep == !p.recall)
      throw ConfigError(p.where,
                        "parameter '" + key.Scalar() + "' of '" + fn + "' needs exactly one of `dep`, `recall`");
    return p;
  }

  std::string file_, dir_;
};

}  // namespace

Graph parse_graph(const std::string& text, const std::string& file, std::vector<GraphWarning>* warnings) {
  const YAML::Node root = load_yaml_text(text, file);
  const std::string dir = std::filesystem::path(file).parent_path().string();
  Graph g = GraphLoader(file, dir.empty() ? "." : dir).load(root);
  g.file = file;
  g.file_sha256 = sha256_hex(text);
  auto found = check_graph(g, false);
  if (warnings) *warnings = std::move(found);
  return g;
}

Graph load_graph(const std::string& path, std::vector<GraphWarning>* warnings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError({path, 0}, "cannot read the graph file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_graph(text.str(), path, warnings);
}

bool is_graph_file(const std::string& path) {
  try {
    const YAML::Node root = YAML::LoadFile(path);
    return root.IsMap() && root["graph"];
  } catch (const YAML::Exception&) {
    return false;
  }
}

}  // namespace skein
