// A support desk graph built with the C++ API: a native dep function searches a small knowledge
// base, and a native handler routes in code (hits: answer from them; none: escalate to a human).
// The model fills the reply or the escalation note. On the built-in `local` engine (a random-weight
// fixture model) those texts are valid for their types but meaningless.
//   ./build/examples/support_desk "how do I reset my password"
#include <fmt/format.h>

#include <iostream>

#include "skein/broker.hpp"
#include "skein/graph_lm.hpp"
#include "skein/graph_run.hpp"

using namespace skein;

namespace {

const std::map<std::string, std::string> kKnowledge = {
    {"password", "Reset it from Settings > Security > Reset password."},
    {"invoice", "Invoices are under Billing > History, as PDF."},
    {"export", "Export your data from Settings > Privacy > Export."},
};

// The native dep: knowledge base entries whose keyword occurs in the question.
Json search(const Json& params) {
  const std::string text = params.at("question").at("text").get<std::string>();
  Json hits = Json::array();
  for (const auto& [keyword, entry] : kKnowledge)
    if (text.find(keyword) != std::string::npos) hits.push_back(entry);
  return hits;
}

Graph support_desk() {
  Graph g;
  g.name = "support_desk";
  g.start = "Question";
  g.max_iters = 4;
  const TypePtr text = g.types.make("Text", Json{{"type", "string"}});
  const TypePtr hits = g.types.make("Hits", Json{{"type", "array"}, {"items", {{"type", "string"}}}});
  const TypePtr short_text = g.types.make("Short", Json{{"type", "string"}, {"maxLength", 80}});
  g.nodes["Question"] = NodeType{"Question", std::nullopt, std::nullopt, {plain_field("text", text)}, {"Lookup"}, {}};
  g.nodes["Lookup"] = NodeType{"Lookup",
                               std::nullopt,
                               std::nullopt,
                               {recall_field(g, "question", "Question"), dep_field("hits", "kb_search", hits)},
                               {"Answer", "Escalate"},
                               {}};
  g.nodes["Answer"] = NodeType{"Answer",     "Answer the question from the knowledge base entries",
                               std::nullopt, {recall_field(g, "lookup", "Lookup"), plain_field("reply", short_text)},
                               {},           {}};
  g.nodes["Escalate"] =
      NodeType{"Escalate",   "Summarize the question for a human agent",
               std::nullopt, {recall_field(g, "question", "Question"), plain_field("note", short_text)},
               {},           {}};
  g.deps["kb_search"] = DepSpec{"kb_search", {}, {{"question", ParamSource{std::nullopt, "Question", {}}}}, {}};
  g.functions["kb_search"] = search;
  for (const auto& w : check_graph(g, true)) std::cerr << "warning: " << w.message << "\n";
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: support_desk \"<question>\"\n";
    return 2;
  }
  try {
    const Graph g = support_desk();
    Broker broker;
    broker.add(local_engine_config());
    Lease local = broker.acquire("local");
    EngineLM lm([&](const std::string&) -> Engine& { return local.engine(); });
    GraphRunOptions o;
    o.lm = &lm;
    o.handlers["Lookup"] = [](const TraceEntry& e) { return e.fields["hits"].empty() ? "Escalate" : "Answer"; };
    const GraphResult r = run_graph_sync(g, Json{{"text", argv[1]}}, std::move(o));
    std::cerr << "note: `local` is a random-weight fixture model: the model's texts below are meaningless.\n";
    for (const auto& e : r.trace) std::cout << fmt::format("{:<9} {}\n", e.type, e.fields.dump());
    std::cout << "routed to: " << r.terminal.type << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "support_desk: " << e.what() << "\n";
    return 1;
  }
}
