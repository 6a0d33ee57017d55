// Graphs: agent state machines over typed nodes (SPEC §4). One representation, built by the YAML
// loader (load_graph) or directly through this API.
//
// A node type is a record type whose name is its default instruction. Each field has a source:
// plain (the caller fills the start node's, the model the others'), a dep (a function's value,
// resolved once per run), a recall (the latest earlier node of a type, or a plain field of that
// type), or a gate (a human answers). `next` names the successors; `end` may end the run.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/engine_config.hpp"
#include "skein/error.hpp"
#include "skein/json.hpp"
#include "skein/schema.hpp"

namespace skein {

enum class FieldSource { plain, dep, recall, gate };
const char* to_string(FieldSource source);  // plain, dep, recall, gate
template <>
struct EnumCount<FieldSource> {
  static constexpr int value = 4;
};

struct Field {
  std::string name;
  FieldSource source = FieldSource::plain;
  TypePtr type;             // the value's type (plain, gate, a typed dep; a recall's node type)
  std::string dep;          // dep: the function; or a node type the model fills (node-typed dep)
  std::string recall;       // recall: the node type (or type name) sought
  std::string gate;         // gate: the question put to a human
  std::string description;  // shown to the model
  Location where;
};

struct NodeType {
  std::string name;
  std::optional<std::string> instruction;  // default: the name
  std::optional<std::string> engine;       // load_graph sets the graph's engine where a node names none
  std::vector<Field> fields;
  std::vector<std::string> next;  // successor node types; "end" may end the run; empty: terminal
  Location where;

  const std::string& instruction_text() const { return instruction ? *instruction : name; }
  bool may_end() const;
  // The node after this one when there is no choice (fewer than two successors): the one, or "end".
  std::string only_successor() const;
  const Field* field(const std::string& name) const;
};

// Where a dep function's parameter comes from.
struct ParamSource {
  std::optional<std::string> dep;     // another function's value
  std::optional<std::string> recall;  // the latest node of a type (or a plain field of that type)
  Location where;
};

// A dep: a native function registered in C++, or an `exec` command (params as one JSON object on
// stdin, one JSON value on stdout).
using DepFunction = std::function<Json(const Json& params)>;

struct DepSpec {
  std::string name;
  std::vector<std::string> exec;  // empty: a native function registered in Graph::functions
  std::map<std::string, ParamSource> params;
  Location where;
};

struct Graph {
  std::string name;
  std::string file, file_sha256;
  std::map<std::string, EngineConfig> engines;
  std::string engine = "local";  // the default engine of the nodes (`engine:` at the top of a file)
  BrokerLimits broker;           // `broker:` limits in the file
  TypeSet types;
  std::string start;
  int max_iters = 10;  // 0: unlimited
  std::map<std::string, NodeType> nodes;
  std::map<std::string, DepSpec> deps;           // declared in the file (exec) or by the host
  std::map<std::string, DepFunction> functions;  // native dep functions, by name
};

// Fields for graphs built in C++ (types from graph.types.make / get), as load_graph builds them.
Field plain_field(std::string name, TypePtr type, std::string description = {});
// `function`: a registered function or exec command; or a node type the model makes.
Field dep_field(std::string name, std::string function, TypePtr type = nullptr);
// `type`: a node type, or a named type of `graph.types` (then its type is set too).
Field recall_field(const Graph& graph, std::string name, std::string type);
Field gate_field(std::string name, std::string question, TypePtr type);

// The graph as JSON, independent of how it was built: start, max_iters, every node (instruction,
// engine, fields with their source and schema, next) and the declared deps. Two graphs with equal
// JSON run alike.
Json graph_json(const Graph& graph);

// What graph checks found that does not stop a run (a node that cannot reach an end).
using GraphWarning = ConfigWarning;

// Parses a graph file (YAML or JSON). Throws ConfigError with file:line, before anything runs, for
// unknown keys, unknown types or nodes, dep cycles (spelled out) and recalls that can never be
// satisfied. Warnings go to `warnings` when given.
Graph load_graph(const std::string& path, std::vector<GraphWarning>* warnings = nullptr);
Graph parse_graph(const std::string& text, const std::string& file, std::vector<GraphWarning>* warnings = nullptr);

// Whether the file holds a graph: its top level is a map with a `graph` key (a chain file's has
// `chain`). False for a file that cannot be read or parsed: the chain loader then says why.
bool is_graph_file(const std::string& path);

// The checks load_graph makes, for graphs built in C++ (functions must be registered by now).
// Throws ConfigError; returns the warnings.
std::vector<GraphWarning> check_graph(const Graph& graph, bool require_functions);

// The nodes reachable from the start, in discovery order.
std::vector<std::string> discover(const Graph& graph);

// A Mermaid flowchart of the graph.
std::string graph_mermaid(const Graph& graph);

}  // namespace skein
