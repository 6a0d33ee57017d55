// The C++ API builds the same representation as the graph file: the triage example written in C++
// and loaded from its YAML have the same graph_json, pass the same checks and run alike.
#include <gtest/gtest.h>

#include "skein/graph_run.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;

Graph triage_in_cpp() {
  Graph g;
  g.name = "triage";
  g.start = "Ticket";
  g.max_iters = 8;
  auto& t = g.types;
  g.nodes["Ticket"] = {
      "Ticket", {}, {}, {plain_field("text", t.make("Ticket.text", {{"type", "string"}}))}, {"Classify"}};
  g.nodes["Classify"] = {"Classify",
                         "Classify the support ticket",
                         {},
                         {recall_field(g, "ticket", "Ticket"),
                          plain_field("kind", t.make("Classify.kind", {{"enum", {"bug", "question", "spam"}}}))},
                         {"Fix", "Answer", "Close"}};
  g.nodes["Fix"] = {"Fix",
                    "Propose a fix for the bug",
                    {},
                    {plain_field("patch", t.make("Fix.patch", {{"type", "string"}, {"maxLength", 60}}))},
                    {"Review"}};
  g.nodes["Review"] = {
      "Review",
      "Review the proposed fix",
      {},
      {recall_field(g, "fix", "Fix"), plain_field("accepted", t.make("Review.accepted", {{"type", "boolean"}}))},
      {"Fix", "end"}};
  g.nodes["Answer"] = {"Answer",
                       "Answer the question",
                       {},
                       {plain_field("reply", t.make("Answer.reply", {{"type", "string"}, {"maxLength", 60}}))},
                       {}};
  g.nodes["Close"] = {"Close",
                      "Close the ticket as spam",
                      {},
                      {plain_field("note", t.make("Close.note", {{"type", "string"}, {"maxLength", 30}}))},
                      {}};
  return g;
}

// Routes Classify -> Fix -> Review -> end and fills every model field with a fixed value.
class FixedLM : public GraphLM {
 public:
  asio::awaitable<LMReply<std::string>> choose_type(const NodeType&, const std::vector<std::string>& types,
                                                    const Json&) override {
    co_return LMReply<std::string>{types[0] == "Fix" && types.size() == 2 ? "end" : types[0], {}};
  }
  asio::awaitable<LMReply<Json>> fill(const NodeType& target, const Json&, const std::string& instruction,
                                      const TraceEntry&) override {
    Json out = Json::object();
    for (const Field* f : model_fields(target)) {
      const Json& s = f->type->schema();
      out[f->name] = s.contains("enum")                 ? s["enum"][0]
                     : s.value("type", "") == "boolean" ? Json(true)
                                                        : Json(instruction);
    }
    co_return LMReply<Json>{out, {}};
  }
};

TEST(GraphApiTest, TheTriageGraphBuiltInCppEqualsItsYamlAndRunsAlike) {
  const Graph yaml = load_graph(std::string(SKEIN_SOURCE_DIR) + "/examples/triage/graph.yaml");
  const Graph cpp = triage_in_cpp();
  EXPECT_TRUE(check_graph(cpp, true).empty());
  EXPECT_EQ(graph_json(cpp), graph_json(yaml)) << graph_json(cpp).dump(1) << "\n" << graph_json(yaml).dump(1);
  EXPECT_EQ(graph_mermaid(cpp), graph_mermaid(yaml));
  FixedLM lm;
  auto run = [&](const Graph& g) {
    GraphRunOptions o;
    o.lm = &lm;
    Json trace = Json::array();
    for (const auto& e : run_graph_sync(g, Json{{"text", "login fails"}}, std::move(o)).trace)
      trace.push_back({{"type", e.type}, {"fields", e.fields}});
    return trace;
  };
  const Json a = run(cpp);
  EXPECT_EQ(a, run(yaml));
  EXPECT_EQ(a.size(), 4u);  // Ticket, Classify, Fix, Review
}

TEST(GraphApiTest, AGraphBuiltInCppIsCheckedLikeAFile) {
  Graph g = triage_in_cpp();
  g.nodes["Review"].fields.push_back(dep_field("owner", "team"));  // no such function
  try {
    check_graph(g, true);
    FAIL() << "an unknown function was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("team"), std::string::npos) << e.what();
  }
  g.functions["team"] = [](const Json&) { return Json("ops"); };
  EXPECT_NO_THROW(check_graph(g, true));
}

}  // namespace
}  // namespace skein
