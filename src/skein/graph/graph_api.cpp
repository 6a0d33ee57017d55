// Building graphs in C++, and the one JSON form of a graph however it was built.
#include "skein/graph.hpp"

namespace skein {

const char* to_string(FieldSource source) {
  switch (source) {
    case FieldSource::plain:
      return "plain";
    case FieldSource::dep:
      return "dep";
    case FieldSource::recall:
      return "recall";
    case FieldSource::gate:
      return "gate";
  }
  return "?";
}

Field plain_field(std::string name, TypePtr type, std::string description) {
  Field f;
  f.name = std::move(name);
  f.type = std::move(type);
  f.description = std::move(description);
  return f;
}

Field dep_field(std::string name, std::string function, TypePtr type) {
  Field f = plain_field(std::move(name), std::move(type));
  f.source = FieldSource::dep;
  f.dep = std::move(function);
  return f;
}

Field recall_field(const Graph& graph, std::string name, std::string type) {
  Field f = plain_field(std::move(name), graph.types.contains(type) ? graph.types.get(type, {}) : nullptr);
  f.source = FieldSource::recall;
  f.recall = std::move(type);
  return f;
}

Field gate_field(std::string name, std::string question, TypePtr type) {
  Field f = plain_field(std::move(name), std::move(type));
  f.source = FieldSource::gate;
  f.gate = std::move(question);
  return f;
}

namespace {

Json field_json(const Field& f) {
  Json out{{"name", f.name}, {"source", to_string(f.source)}};
  if (f.type) out["type"] = f.type->schema();
  if (f.source == FieldSource::dep) out["dep"] = f.dep;
  if (f.source == FieldSource::recall) out["recall"] = f.recall;
  if (f.source == FieldSource::gate) out["gate"] = f.gate;
  if (!f.description.empty()) out["description"] = f.description;
  return out;
}

Json node_json(const NodeType& n, const std::string& engine) {
  Json fields = Json::array();
  for (const auto& f : n.fields) fields.push_back(field_json(f));
  Json out{{"instruction", n.instruction_text()}, {"fields", std::move(fields)}, {"next", n.next}};
  out["engine"] = n.engine.value_or(engine);
  return out;
}

Json dep_json(const DepSpec& d) {
  Json params = Json::object();
  for (const auto& [name, p] : d.params) params[name] = p.dep ? Json{{"dep", *p.dep}} : Json{{"recall", *p.recall}};
  Json out{{"params", std::move(params)}};
  if (!d.exec.empty()) out["exec"] = d.exec;
  return out;
}

}  // namespace

Json graph_json(const Graph& graph) {
  Json nodes = Json::object(), deps = Json::object();
  for (const auto& [name, n] : graph.nodes) nodes[name] = node_json(n, graph.engine);
  for (const auto& [name, d] : graph.deps) deps[name] = dep_json(d);
  Json engines = Json::array();
  for (const auto& [name, e] : graph.engines) engines.push_back(name);
  return Json{{"graph", graph.name},       {"start", graph.start},    {"max_iters", graph.max_iters},
              {"nodes", std::move(nodes)}, {"deps", std::move(deps)}, {"engines", std::move(engines)}};
}

}  // namespace skein
