// A chain end to end on the `local` fixture model (random weights: outputs are valid, not
// meaningful): artefacts, alignment of row ids, error records for bad input, bad templates and
// outputs that stay invalid after the retries.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fixture.hpp"
#include "run_folder.hpp"
#include "skein/chain.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

const char* kChain = R"(chain: two_steps
types:
  Verdict:
    type: object
    properties:
      label: {enum: [positive, negative, neutral]}
      confidence: {type: number, minimum: 0, maximum: 1}
    required: [label, confidence]
batch_size: 3
steps:
  - step: verdict
    output: Verdict
    system: You judge product reviews.
    user: "Review: {{ chain_input.review }}"
    sampling: {temperature: 0.5, max_tokens: 64, seed: 7}
  - step: reason
    output: {type: object, properties: {why: {type: string, maxLength: 20}}, required: [why]}
    user: "Why {{ verdict.label }} ({{ verdict.confidence }})?"
    sampling: {max_tokens: 64, seed: 3}
)";

using test::read_jsonl;

class ChainRunTest : public test::RunFolderTest {
 protected:
  void SetUp() override {
    RunFolderTest::SetUp();
    setenv("SKEIN_LOCAL_MODEL", test::model_path("local").c_str(), 1);
  }
};

TEST_F(ChainRunTest, TwoStepsWriteAlignedOutputsAndRunJson) {
  std::string input;
  for (int i = 0; i < 7; ++i) input += R"({"review": "review number )" + std::to_string(i) + "\"}\n";
  RunSummary s = run(kChain, input);
  EXPECT_EQ(s.status, ChainStatus::done);
  EXPECT_EQ(s.records_in, 7u);
  EXPECT_EQ(s.records_out + s.errors, 7u);
  const auto verdicts = read_jsonl(dir_ / "out/verdict/000.jsonl");
  const auto reasons = read_jsonl(dir_ / "out/reason/000.jsonl");
  ASSERT_EQ(verdicts.size(), s.nodes["verdict"].out);
  ASSERT_EQ(reasons.size(), s.nodes["reason"].out);
  std::set<long long> ids;
  for (const auto& v : verdicts) {
    ids.insert(v["row_id"].get<long long>());
    EXPECT_TRUE(v["output"]["label"].is_string());
  }
  EXPECT_EQ(ids.size(), verdicts.size()) << "no row twice";
  for (const auto& r : reasons) EXPECT_TRUE(ids.count(r["row_id"].get<long long>())) << "reason only for verdicts";

  std::ifstream in(dir_ / "out/run.json");
  const Json run_json = Json::parse(in);
  EXPECT_EQ(run_json["chain"], "two_steps");
  EXPECT_EQ(run_json["status"], "done");
  EXPECT_EQ(run_json["counts"]["records_in"], 7);
  EXPECT_EQ(run_json["file_sha256"].get<std::string>().size(), 64u);
  EXPECT_TRUE(run_json["engines"].contains("local"));
  EXPECT_FALSE(run_json["ended_at"].is_null());
}

TEST_F(ChainRunTest, BadInputLinesBecomeErrorRecordsWithLineNumbers) {
  const std::string chain = std::string(kChain).replace(std::string(kChain).find("batch_size"), 0,
                                                        "input: {type: object, properties: {review: {type: string}}, "
                                                        "required: [review]}\n");
  RunSummary s = run(chain, "{\"review\": \"fine\"}\n{not json\n\n[1, 2]\n{\"rating\": 5}\n{\"review\": \"ok\"}\n");
  EXPECT_EQ(s.records_in, 5u);  // the blank line is not a record
  const auto errors = read_jsonl(dir_ / "out/errors.jsonl");
  std::map<int, std::string> by_line;
  for (const auto& e : errors)
    if (e["node"] == "input") by_line[e["line"].get<int>()] = e["reason"].get<std::string>();
  ASSERT_EQ(by_line.size(), 3u);
  EXPECT_NE(by_line[2].find("line 2: not valid JSON"), std::string::npos) << by_line[2];
  EXPECT_NE(by_line[4].find("line 4: a record must be a JSON object"), std::string::npos) << by_line[4];
  EXPECT_NE(by_line[5].find("line 5: record does not match the input type"), std::string::npos) << by_line[5];
  EXPECT_EQ(s.nodes["verdict"].in, 2u);  // the two good records went on
}

TEST_F(ChainRunTest, UndefinedTemplateNameIsAnErrorRecordAndOthersGoOn) {
  RunSummary s = run(kChain, "{\"review\": \"has it\"}\n{\"text\": \"no review field\"}\n");
  const auto errors = read_jsonl(dir_ / "out/errors.jsonl");
  ASSERT_GE(errors.size(), 1u);
  bool found = false;
  for (const auto& e : errors)
    if (e["row_id"] == 1 && e["node"] == "verdict") {
      found = true;
      EXPECT_NE(e["reason"].get<std::string>().find("chain_input.review"), std::string::npos) << e.dump();
      EXPECT_NE(e["reason"].get<std::string>().find("chain.yaml:14 `user`"), std::string::npos) << e.dump();
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(s.nodes["verdict"].in, 2u);
}

TEST_F(ChainRunTest, OutputInvalidAfterRetriesBecomesErrorRecord) {
  // Three tokens cannot hold a Verdict: every attempt is cut short and invalid.
  std::string chain = kChain;
  chain.replace(chain.find("max_tokens: 64, seed: 7"), 23, "max_tokens: 3, seed: 7");
  RunSummary s = run(chain, "{\"review\": \"a\"}\n{\"review\": \"b\"}\n");
  EXPECT_EQ(s.nodes["verdict"].errors, 2u);
  const auto errors = read_jsonl(dir_ / "out/errors.jsonl");
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors) {
    EXPECT_EQ(e["node"], "verdict");
    EXPECT_NE(e["reason"].get<std::string>().find("not valid JSON"), std::string::npos) << e.dump();
    EXPECT_FALSE(e["raw"].get<std::string>().empty());
  }
  EXPECT_EQ(s.nodes["verdict"].prompt_tokens > 0, true);
}

TEST_F(ChainRunTest, RerunIntoTheSameFolderLeavesNoStaleArtefacts) {
  run(kChain, "{\"text\": \"no review\"}\n");  // an error record
  ASSERT_EQ(read_jsonl(dir_ / "out/errors.jsonl").size(), 1u);
  fs::create_directories(dir_ / "out/old_node");
  std::ofstream(dir_ / "out/old_node/000.jsonl") << "{}\n";
  const RunSummary second = run(kChain, "{\"review\": \"fine\"}\n");
  EXPECT_EQ(read_jsonl(dir_ / "out/errors.jsonl").size(), second.errors) << "errors of the first run are gone";
  EXPECT_FALSE(fs::exists(dir_ / "out/old_node"));
}

TEST_F(ChainRunTest, OutputFolderWithForeignFilesIsRefused) {
  fs::create_directories(dir_ / "out");
  std::ofstream(dir_ / "out/thesis.tex") << "precious";
  EXPECT_THROW(run(kChain, "{\"review\": \"a\"}\n"), Error);
  EXPECT_TRUE(fs::exists(dir_ / "out/thesis.tex"));
}

TEST_F(ChainRunTest, EveryBackendsOutputIsValidatedAndRetriedWithTheReason) {
  // A `cli` engine that claims success but answers a label outside the enum, then a valid one:
  // the first reply is refused, the retry is told why, the second is kept.
  const fs::path counter = dir_ / "calls";
  const std::string chain =
      "chain: checked\nengines:\n  tool:\n    backend: cli\n    command: [sh, -c, "
      "'n=$(cat " +
      counter.string() + " 2>/dev/null || echo 0); echo $((n+1)) > " + counter.string() +
      "; if [ $n = 0 ]; then echo \\{\\\"label\\\": \\\"maybe\\\"\\}; "
      "else printf %s \\\"$1\\\" | grep -q invalid && echo \\{\\\"label\\\": \\\"yes\\\"\\}; fi', "
      "sh, '{prompt}']\n"
      "types:\n  L: {type: object, properties: {label: {enum: [yes, no]}}, required: [label]}\n"
      "steps:\n  - step: judge\n    engine: tool\n    output: L\n    user: hi\n    retries: 1\n";
  RunSummary s = run(chain, "{\"x\": 1}\n");
  EXPECT_EQ(s.nodes["judge"].out, 1u) << read_jsonl(dir_ / "out/errors.jsonl").size();
  const auto out = read_jsonl(dir_ / "out/judge/000.jsonl");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["output"]["label"], "yes");
}

TEST_F(ChainRunTest, ParallelBranchesOfStepsJoinIntoEveryRecord) {
  const std::string chain = R"(chain: fan
types:
  Verdict:
    type: object
    properties:
      label: {enum: [positive, negative, neutral]}
      confidence: {type: number, minimum: 0, maximum: 1}
    required: [label, confidence]
steps:
  - parallel:
      - branch: strict
        join: strict
        steps:
          - step: judge_strict
            output: Verdict
            user: "Strictly: {{ chain_input.review }}"
            sampling: {max_tokens: 64, seed: 1}
      - branch: lenient
        join: lenient
        steps:
          - step: judge_lenient
            output: Verdict
            user: "Leniently: {{ chain_input.review }}"
            sampling: {max_tokens: 64, seed: 2}
  - apply: both
    fn: map
    set: {strict: strict.label, lenient: lenient.label, row: row_id}
)";
  std::string input;
  for (int i = 0; i < 6; ++i) input += "{\"review\": \"review " + std::to_string(i) + "\"}\n";
  RunSummary s = run(chain, input);
  const auto strict = read_jsonl(dir_ / "out/strict/judge_strict/000.jsonl");
  const auto lenient = read_jsonl(dir_ / "out/lenient/judge_lenient/000.jsonl");
  const auto both = read_jsonl(dir_ / "out/both/000.jsonl");
  ASSERT_EQ(both.size(), 6u);
  std::map<std::string, std::string> strict_label, lenient_label;
  for (const auto& r : strict) strict_label[r["id"]] = r["output"]["label"];
  for (const auto& r : lenient) lenient_label[r["id"]] = r["output"]["label"];
  for (const auto& r : both) {  // each record got its own branch outputs
    const std::string id = r["id"];
    EXPECT_EQ(r["output"]["row"], std::stoi(id));
    if (strict_label.count(id)) EXPECT_EQ(r["output"]["strict"], strict_label[id]);
    if (lenient_label.count(id)) EXPECT_EQ(r["output"]["lenient"], lenient_label[id]);
  }
  EXPECT_EQ(s.nodes["strict/judge_strict"].in, 6u);
  EXPECT_EQ(s.nodes["lenient/judge_lenient"].in, 6u);
}

TEST_F(ChainRunTest, SixtyFourRecordsSharingAThousandTokenSystemPromptComputeItOnce) {
  std::string system;
  for (int i = 1; system.size() < 3600; ++i)
    system += "      Rule " + std::to_string(i) + ": items numbered " + std::to_string(i * 7) + " are kept apart.\n";
  const std::string chain = R"(chain: shared_prefix
batch_size: 64
steps:
  - step: label
    output: {type: object, properties: {n: {type: integer}}, required: [n]}
    system: |
)" + system + R"(    user: "Item {{ chain_input.i }}?"
    sampling: {temperature: 0, max_tokens: 16}
)";
#ifdef SKEIN_SANITIZED
  const int records = 16;  // TSan range-checks every memcpy of llama.cpp's KV: a smaller run
#else
  const int records = 64;
#endif
  std::string input;
  for (int i = 0; i < records; ++i) input += "{\"i\": " + std::to_string(i) + "}\n";
  RunSummary s = run(chain, input);
  ASSERT_EQ(s.status, ChainStatus::done);
  const NodeCounts& c = s.nodes["label"];
  ASSERT_GE(c.engine_calls, records);
  // What the records' prompts share: all but the user line and the template's tail (<= 40 tokens).
  const double shared = double(c.prompt_tokens) / double(c.engine_calls) - 40;
  ASSERT_GT(shared, 900);
  EXPECT_GE(double(c.cached_prompt_tokens), 0.9 * shared * double(c.engine_calls - 1))
      << c.cached_prompt_tokens << " reused of " << c.prompt_tokens;
  std::ifstream in(dir_ / "out/run.json");
  EXPECT_EQ(Json::parse(in)["nodes"]["label"]["cached_prompt_tokens"], c.cached_prompt_tokens);
}

TEST_F(ChainRunTest, MissingModelFailsTheRunAndRecordsIt) {
  setenv("SKEIN_LOCAL_MODEL", "/nonexistent.gguf", 1);
  EXPECT_THROW(run(kChain, "{\"review\": \"a\"}\n"), EngineError);
  std::ifstream in(dir_ / "out/run.json");
  const Json run_json = Json::parse(in);
  EXPECT_EQ(run_json["status"], "failed");
  EXPECT_NE(run_json["error"].get<std::string>().find("/nonexistent.gguf"), std::string::npos);
}

}  // namespace
}  // namespace skein
