#include "run_json.hpp"

#include <fmt/format.h>

namespace skein {

namespace {

Json tokens_json(const LMTokens& t) {
  return {{"prompt", t.prompt}, {"generated", t.generated}, {"cached_prompt", t.cached}};
}
LMTokens tokens_from_json(const Json& j) {
  return {j.value("prompt", 0LL), j.value("generated", 0LL), j.value("cached_prompt", 0LL)};
}

}  // namespace

Json to_json(const TraceEntry& e) { return {{"type", e.type}, {"fields", e.fields}}; }

TraceEntry entry_from_json(const Json& j) { return TraceEntry{j.at("type").get<std::string>(), j.at("fields")}; }

Json to_json(const DepTiming& d) {
  return {{"dep", d.dep}, {"start_ns", d.start_ns}, {"end_ns", d.end_ns}, {"error", d.error}};
}

DepTiming dep_from_json(const Json& d) {
  return {d.value("dep", ""), d.value("start_ns", int64_t(0)), d.value("end_ns", int64_t(0)), d.value("error", "")};
}

Json to_json(const NodeTiming& t) {
  return {{"index", t.index},
          {"node", t.node},
          {"start_ns", t.start_ns},
          {"end_ns", t.end_ns},
          {"lm_ns", t.lm_ns},
          {"queue_ns", t.queue_ns},
          {"generate_ns", t.generate_ns},
          {"deps_ns", t.deps_ns},
          {"tokens", tokens_json(t.tokens)}};
}

NodeTiming node_from_json(const Json& j) {
  NodeTiming t;
  t.index = j.value("index", size_t(0));
  t.node = j.value("node", "");
  t.start_ns = j.value("start_ns", int64_t(0));
  t.end_ns = j.value("end_ns", int64_t(0));
  t.lm_ns = j.value("lm_ns", int64_t(0));
  t.queue_ns = j.value("queue_ns", int64_t(0));
  t.generate_ns = j.value("generate_ns", int64_t(0));
  t.deps_ns = j.value("deps_ns", int64_t(0));
  t.tokens = tokens_from_json(j.value("tokens", Json::object()));
  return t;
}

Json to_json(const GateInfo& g) {
  return {{"id", g.id},
          {"run", g.run},
          {"node", g.node},
          {"field", g.field},
          {"question", g.question},
          {"schema", g.schema},
          {"opened_ns", g.opened_ns}};
}

std::string dumped(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string step_text(const TraceEntry& e) {
  return fmt::format(R"({{"type":{},"fields":{}}})", dumped(e.type), dumped(e.fields));
}

std::string step_text(const NodeTiming& t) {
  return fmt::format(
      R"({{"index":{},"node":{},"start_ns":{},"end_ns":{},"lm_ns":{},"queue_ns":{},"generate_ns":{},"deps_ns":{},)"
      R"("tokens":{{"prompt":{},"generated":{},"cached_prompt":{}}}}})",
      t.index, dumped(t.node), t.start_ns, t.end_ns, t.lm_ns, t.queue_ns, t.generate_ns, t.deps_ns, t.tokens.prompt,
      t.tokens.generated, t.tokens.cached);
}

std::string step_text(const DepTiming& d) { return dumped(to_json(d)); }

Json to_json(const RunSnapshot& r) {
  Json nodes = Json::array(), deps = Json::array(), gates = Json::array();
  Json trace = Json::array();
  for (const auto& e : r.trace) trace.push_back(to_json(e));
  for (const auto& t : r.nodes) nodes.push_back(to_json(t));
  for (const auto& d : r.deps) deps.push_back(to_json(d));
  for (const auto& g : r.gates) gates.push_back(to_json(g));
  Json j{{"id", r.id},
         {"kind", to_string(r.kind)},
         {"name", r.name},
         {"state", to_string(r.state)},
         {"node", r.node},
         {"error", r.error},
         {"input", r.input},
         {"trace", std::move(trace)},
         {"nodes", std::move(nodes)},
         {"deps", std::move(deps)},
         {"tokens", tokens_json(r.tokens)},
         {"submitted_ns", r.submitted_ns},
         {"started_ns", r.started_ns},
         {"finished_ns", r.finished_ns},
         {"gates", std::move(gates)},
         {"processes", r.processes},
         {"progress", r.progress}};
  if (!r.file_sha256.empty()) j["file_sha256"] = r.file_sha256;
  if (!r.forked_from.empty()) j["forked_from"] = r.forked_from, j["forked_at"] = r.forked_at;
  j["terminal"] = r.terminal ? Json{{"type", r.terminal->type}, {"fields", r.terminal->fields}} : Json();
  return j;
}

RunSnapshot run_from_json(const Json& j) {
  RunSnapshot r;
  r.id = j.at("id").get<std::string>();
  r.kind = parse_enum<RunKind>(j.value("kind", "graph"), "run kind");
  r.name = j.value("name", "");
  r.state = parse_enum<RunState>(j.at("state").get<std::string>(), "run state");
  r.node = j.value("node", "");
  r.error = j.value("error", "");
  r.input = j.value("input", Json());
  for (const auto& e : j.value("trace", Json::array())) r.trace.push_back(entry_from_json(e));
  for (const auto& t : j.value("nodes", Json::array())) r.nodes.push_back(node_from_json(t));
  for (const auto& d : j.value("deps", Json::array())) r.deps.push_back(dep_from_json(d));
  r.tokens = tokens_from_json(j.value("tokens", Json::object()));
  r.submitted_ns = j.value("submitted_ns", int64_t(0));
  r.started_ns = j.value("started_ns", int64_t(0));
  r.finished_ns = j.value("finished_ns", int64_t(0));
  if (j.contains("terminal") && !j["terminal"].is_null()) r.terminal = entry_from_json(j["terminal"]);
  r.progress = j.value("progress", Json());
  r.file_sha256 = j.value("file_sha256", "");
  r.forked_from = j.value("forked_from", "");
  r.forked_at = j.value("forked_at", int64_t(-1));
  return r;
}

Json to_json(const RunEvent& e) {
  return {{"run", e.run}, {"seq", e.seq}, {"t_ns", e.t_ns}, {"kind", to_string(e.kind)}, {"data", e.data}};
}

}  // namespace skein
