// The examples run offline on `local` (the random-weight fixture: outputs valid, not meaningful)
// with their own inputs, and `skein inspect` checks them; an unknown template name is reported by
// inspect with its file:line before anything runs; --mermaid draws the graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fixture.hpp"
#include "run_folder.hpp"
#include "shell.hpp"
#include "skein/chain.hpp"
#include "skein/graph.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

using test::kSkein;
using test::Shell;
using test::shell;

const fs::path kExamples = fs::path(SKEIN_SOURCE_DIR) / "examples";

class ExamplesTest : public test::RunFolderTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    RunFolderTest::SetUp();
    setenv("SKEIN_LOCAL_MODEL", test::model_path("local").c_str(), 1);
  }
};

TEST_P(ExamplesTest, RunsOfflineOnLocalWithItsInputsAndInspects) {
  const fs::path dir = kExamples / GetParam();
  fs::path input;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".jsonl") input = e.path();
  ASSERT_FALSE(input.empty());
  RunOptions o;
  o.input_path = input.string();
  o.output_dir = (dir_ / "out").string();
  const RunSummary s = run_chain(load_chain((dir / "chain.yaml").string()), o);
  EXPECT_EQ(s.status, ChainStatus::done);
  for (const auto& e : test::read_jsonl(dir_ / "out/errors.jsonl"))  // only the bad input examples show
    EXPECT_EQ(e["node"], "input") << e.dump();
  EXPECT_GT(s.records_out, 0u);
  for (const auto& path : s.node_order) EXPECT_GT(s.nodes.at(path).out, 0u) << path << " produced nothing";
  const Shell inspect = shell(kSkein + " inspect " + (dir / "chain.yaml").string());
  EXPECT_EQ(inspect.status, 0) << inspect.out;
  for (const auto& path : s.node_order)
    EXPECT_NE(inspect.out.find(fs::path(path).filename().string()), std::string::npos) << inspect.out;
}

INSTANTIATE_TEST_SUITE_P(All, ExamplesTest,
                         ::testing::Values("classify", "extract", "translate", "pure_apply", "retrieval",
                                           "writer_judge"));

using InspectTest = test::RunFolderTest;

// The C++ example: a native dep searches the knowledge base and a native handler routes on its hits.
TEST(NativeExampleTest, TheSupportDeskRoutesInCodeOnTheKnowledgeBaseHits) {
  const std::string bin = std::string(SKEIN_BINARY_DIR) + "/examples/support_desk";
  const Shell known = shell(bin + " 'how do I reset my password'");
  ASSERT_EQ(known.status, 0) << known.out;
  EXPECT_NE(known.out.find("Security > Reset password"), std::string::npos) << known.out;
  EXPECT_NE(known.out.find("routed to: Answer"), std::string::npos) << known.out;
  EXPECT_NE(known.out.find("random-weight"), std::string::npos) << known.out;  // honest about the model
  const Shell unknown = shell(bin + " 'my printer is on fire'");
  ASSERT_EQ(unknown.status, 0) << unknown.out;
  EXPECT_NE(unknown.out.find("\"hits\":[]"), std::string::npos) << unknown.out;
  EXPECT_NE(unknown.out.find("routed to: Escalate"), std::string::npos) << unknown.out;
}

TEST_F(InspectTest, AnUnknownTemplateNameIsReportedWithItsLineBeforeAnythingRuns) {
  std::ofstream(dir_ / "bad.yaml") << R"(chain: bad
steps:
  - step: one
    output: {type: object, properties: {a: {type: string}}, required: [a]}
    user: "{{ chain_input.text }}"
  - step: two
    output: {type: object, properties: {b: {type: string}}, required: [b]}
    user: "{{ one.a }} and {{ three.c }}"
)";
  const Shell r = shell(kSkein + " inspect " + (dir_ / "bad.yaml").string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("bad.yaml:8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("three"), std::string::npos) << r.out;
}

TEST_F(InspectTest, EachTypeSaysWhichKeywordsTheGrammarEnforcesAndWhichAreOnlyValidated) {
  std::ofstream(dir_ / "kw.yaml") << R"(chain: keywords
engines:
  remote: {backend: openai, endpoint: "http://127.0.0.1:9/v1", model: m}
types:
  Order:
    type: object
    properties:
      qty: {type: integer, minimum: 1, maximum: 99, multipleOf: 3}
      ref: {type: string, format: uuid}
      note: {type: string, maxLength: 20}
    required: [qty, ref]
steps:
  - step: order
    output: Order
    user: "{{ chain_input.text }}"
  - step: again
    engine: remote
    output: {type: object, properties: {ok: {type: boolean}}, required: [ok], not: {maxProperties: 0}}
    user: "{{ order.qty }}"
)";
  const Shell r = shell(kSkein + " inspect " + (dir_ / "kw.yaml").string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("types (keywords enforced while generating | only validated after):\n"
                       "  Order: enforced format, maxLength, maximum, minimum, properties, required, type | validated "
                       "multipleOf\n"
                       "    to openai-compatible engines: non-strict: `maxLength` (at #/properties/note) is not a "
                       "keyword strict mode accepts\n"
                       "  again: enforced properties, required, type | validated maxProperties, not\n"
                       "    to openai-compatible engines: non-strict: `not` (at #) is not a keyword strict mode "
                       "accepts\n"),
            std::string::npos)
      << r.out;
}

TEST_F(InspectTest, MermaidDrawsEveryNodeAndEdge) {
  const Shell r = shell(kSkein + " inspect --mermaid " + (kExamples / "translate/chain.yaml").string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.rfind("flowchart TD\n", 0), 0u) << r.out;
  for (const char* edge : {"n_input --> n_fr", "n_fr --> n_to_fr", "n_to_fr --> n_summary", "n_to_de --> n_summary",
                           "n_summary --> n_output"})
    EXPECT_NE(r.out.find(edge), std::string::npos) << edge << "\n" << r.out;
}

TEST_F(InspectTest, AGraphFileShowsItsNodesSourcesAndInputs) {
  const Shell r = shell(kSkein + " inspect " + (kExamples / "outfit/graph.yaml").string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("required start input: name : \"string\", message : \"string\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("weather : \"string\"  (dep forecast)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("approved : \"boolean\"  (gate \"Do you like this outfit?\")"), std::string::npos) << r.out;
  const Shell m = shell(kSkein + " inspect --mermaid " + (kExamples / "outfit/graph.yaml").string());
  EXPECT_NE(m.out.find("IsGettingDressed --> Recommend"), std::string::npos) << m.out;
}

TEST_F(InspectTest, TheTriageGraphRoutesOnlyAlongItsEdgesAndMaxItersBoundsItsLoop) {
  setenv("SKEIN_LOCAL_MODEL", test::model_path("local").c_str(), 1);
  const fs::path dir = kExamples / "triage";
  const Graph g = load_graph((dir / "graph.yaml").string());
  const Shell r = shell(kSkein + " run " + (dir / "graph.yaml").string() + " -i " + (dir / "tickets.jsonl").string() +
                        " -o " + (dir_ / "out").string());
  const auto results = test::read_jsonl(dir_ / "out/results.jsonl");
  ASSERT_EQ(results.size(), 3u) << r.out;
  for (const auto& res : results) {
    if (res["status"] == "failed") {  // the random model may loop Fix -> Review -> Fix ... until stopped
      EXPECT_NE(res["error"].get<std::string>().find("max_iters (8) reached"), std::string::npos) << res.dump();
      continue;
    }
    const Json& trace = res["trace"];
    ASSERT_GE(trace.size(), 3u) << res.dump();
    for (size_t i = 1; i < trace.size(); ++i) {
      const auto& next = g.nodes.at(trace[i - 1]["type"].get<std::string>()).next;
      EXPECT_NE(std::find(next.begin(), next.end(), trace[i]["type"].get<std::string>()), next.end()) << res.dump();
    }
    EXPECT_TRUE(g.nodes.at(res["terminal"].get<std::string>()).may_end()) << res.dump();
  }
}

}  // namespace
}  // namespace skein
