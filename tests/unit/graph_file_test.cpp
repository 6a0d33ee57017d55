// The graph file (SPEC §8) and the graph checks (SPEC §4): sources of fields, discovery, dep
// cycles spelled out, recalls that can never be satisfied, unknown successors and keys with
// file:line; nodes that cannot end and unreached nodes are warnings.
#include <gtest/gtest.h>

#include "config_error.hpp"

#include "skein/graph.hpp"

namespace skein {
namespace {

const char* kOutfit = R"(graph: outfit
start: UserInfo
max_iters: 10
functions:
  forecast:
    exec: [python3, forecast.py]
    params: {user: {recall: UserInfo}}
nodes:
  UserInfo:
    fields:
      name: {type: string}
      message: {type: string}
    next: [IsGettingDressed]
  IsGettingDressed:
    instruction: Decide whether the user is getting dressed
    fields:
      user: {recall: UserInfo}
      weather: {dep: forecast, type: string}
      getting_dressed: {type: boolean, description: true if the message is about clothes}
    next: [Recommend, end]
  Recommend:
    engine: local
    fields:
      weather: {dep: forecast}
      top: {type: string}
      bottom: {type: string}
      approved: {type: boolean, gate: "Do you like this outfit?"}
    next: []
)";

std::string error_of(const std::string& text) {
  return test::error_of([&] { parse_graph(text, "/g/outfit.yaml"); });
}

using test::replace;

TEST(GraphFileTest, TheSpecExampleParsesWithEverySource) {
  std::vector<GraphWarning> warnings;
  const Graph g = parse_graph(kOutfit, "/g/outfit.yaml", &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(g.start, "UserInfo");
  EXPECT_EQ(discover(g), (std::vector<std::string>{"UserInfo", "IsGettingDressed", "Recommend"}));
  const NodeType& decide = g.nodes.at("IsGettingDressed");
  EXPECT_EQ(decide.instruction_text(), "Decide whether the user is getting dressed");
  EXPECT_TRUE(decide.may_end());
  EXPECT_EQ(decide.field("user")->source, FieldSource::recall);
  EXPECT_EQ(decide.field("user")->recall, "UserInfo");
  EXPECT_EQ(decide.field("weather")->source, FieldSource::dep);
  EXPECT_EQ(decide.field("weather")->type->schema()["type"], "string");
  EXPECT_EQ(decide.field("getting_dressed")->description, "true if the message is about clothes");
  const NodeType& rec = g.nodes.at("Recommend");
  EXPECT_EQ(rec.field("approved")->source, FieldSource::gate);
  EXPECT_EQ(rec.field("approved")->gate, "Do you like this outfit?");
  EXPECT_TRUE(rec.may_end());
  EXPECT_EQ(g.deps.at("forecast").params.at("user").recall, "UserInfo");
  EXPECT_EQ(g.nodes.at("UserInfo").instruction_text(), "UserInfo");
}

TEST(GraphFileTest, DepCyclesAreRefusedWithTheCycleSpelledOut) {
  const std::string msg = error_of(replace(kOutfit, "    params: {user: {recall: UserInfo}}\n",
                                           "    params: {x: {dep: season}}\n"
                                           "  season:\n    exec: [sh, s.sh]\n    params: {y: {dep: forecast}}\n"));
  EXPECT_NE(msg.find("dep cycle: forecast -> season -> forecast"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/g/outfit.yaml:5"), std::string::npos) << msg;
}

TEST(GraphFileTest, UnknownSuccessorsKeysAndRecallsNameTheirLine) {
  EXPECT_NE(error_of(replace(kOutfit, "next: [Recommend, end]", "next: [Recomend, end]"))
                .find("node 'IsGettingDressed': `next` names 'Recomend'"),
            std::string::npos);
  const std::string key = error_of(replace(kOutfit, "    engine: local\n", "    engin: local\n"));
  EXPECT_NE(key.find("/g/outfit.yaml:22: unknown key 'engin'"), std::string::npos) << key;
  const std::string recall =
      error_of(replace(kOutfit, "user: {recall: UserInfo}\n      weather", "user: {recall: Userinfo}\n      weather"));
  EXPECT_NE(recall.find("recall of unknown type 'Userinfo'"), std::string::npos) << recall;
}

TEST(GraphFileTest, ARecallNoEarlierNodeCanSatisfyIsRefused) {
  // Recommend only ever comes after IsGettingDressed, so IsGettingDressed cannot recall it.
  const std::string msg = error_of(replace(kOutfit, "      user: {recall: UserInfo}\n",
                                           "      user: {recall: UserInfo}\n      last: {recall: Recommend}\n"));
  EXPECT_NE(msg.find("field 'last': recall of Recommend can never be satisfied"), std::string::npos) << msg;
  // In a loop it can: Recommend -> IsGettingDressed makes an earlier Recommend possible.
  const std::string loop = replace(replace(kOutfit, "      user: {recall: UserInfo}\n",
                                           "      user: {recall: UserInfo}\n      last: {recall: Recommend}\n"),
                                   "    next: []\n", "    next: [IsGettingDressed]\n");
  EXPECT_EQ(error_of(loop), "");
}

TEST(GraphFileTest, NodesThatCannotEndOrAreNeverReachedAreWarnings) {
  std::vector<GraphWarning> warnings;
  std::string text = replace(kOutfit, "    next: []\n", "    next: [Recommend]\n");
  text += "  Orphan:\n    fields: {x: {type: string}}\n";
  parse_graph(text, "/g/outfit.yaml", &warnings);
  ASSERT_EQ(warnings.size(), 2u);
  std::string all;
  for (const auto& w : warnings) all += w.where.str() + " " + w.message + "\n";
  EXPECT_NE(all.find("node 'Recommend' cannot reach an end"), std::string::npos) << all;
  EXPECT_NE(all.find("node 'Orphan' is never reached"), std::string::npos) << all;
}

TEST(GraphFileTest, APlainFieldNeedsATypeAndOneSourceAtMost) {
  EXPECT_NE(error_of(replace(kOutfit, "top: {type: string}", "top: {description: x}")).find("needs a type"),
            std::string::npos);
  EXPECT_NE(error_of(replace(kOutfit, "weather: {dep: forecast}", "weather: {dep: forecast, recall: UserInfo}"))
                .find("more than one of"),
            std::string::npos);
}

TEST(GraphFileTest, MermaidHasEveryEdge) {
  const std::string m = graph_mermaid(parse_graph(kOutfit, "/g/outfit.yaml"));
  EXPECT_NE(m.find("UserInfo --> IsGettingDressed"), std::string::npos) << m;
  EXPECT_NE(m.find("IsGettingDressed --> Recommend"), std::string::npos) << m;
  EXPECT_NE(m.find("IsGettingDressed --> end_([end])"), std::string::npos) << m;
}

}  // namespace
}  // namespace skein
