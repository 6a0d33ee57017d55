// The chain file: SPEC §8 syntax; every mistake is refused with file:line before anything runs.
#include <gtest/gtest.h>

#include "config_error.hpp"

#include "skein/chain.hpp"
#include "skein/graph.hpp"

namespace skein {
namespace {

const char* kGood = R"(chain: reviews
engines:
  judge: {backend: llama, model: models/m.gguf, keep_alive: 60, parallel: 2, context: 1024}
types:
  Review: {type: object, properties: {review: {type: string}}, required: [review]}
  Verdict:
    type: object
    properties:
      label: {enum: [positive, negative, neutral]}
      confidence: {type: number, minimum: 0, maximum: 1}
    required: [label, confidence]
input: Review
batch_size: 4
steps:
  - step: verdict
    engine: judge
    output: Verdict
    system: You judge product reviews.
    user: "Review: {{ chain_input.review }}"
    sampling: {temperature: 0.2, max_tokens: 128, seed: 7, stop: ["\n\n"]}
    retries: 1
  - step: note
    output: {type: object, properties: {text: {type: string}}, required: [text]}
    user: "{{ verdict.label }}"
)";

std::string error_of(const std::string& text) {
  return test::error_of([&] { parse_chain(text, "/data/c.yaml"); });
}

using test::replace;

TEST(ChainFileTest, ParsesEverySection) {
  Chain c = parse_chain(kGood, "/data/c.yaml");
  EXPECT_EQ(c.name, "reviews");
  EXPECT_EQ(c.batch_size, 4);
  ASSERT_EQ(c.steps.size(), 2u);
  const Step& v = std::get<Step>(c.steps[0]);
  EXPECT_EQ(v.id, "verdict");
  EXPECT_EQ(v.engine, "judge");
  EXPECT_EQ(v.retries, 1);
  EXPECT_FLOAT_EQ(v.sampling.temperature, 0.2f);
  EXPECT_EQ(v.sampling.max_tokens, 128);
  EXPECT_EQ(*v.sampling.seed, 7u);
  EXPECT_EQ(v.sampling.stop, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(v.where.line, 15);
  EXPECT_EQ(std::get<Step>(c.steps[1]).engine, "local");
  ASSERT_TRUE(c.input);
  EXPECT_TRUE(c.input->validate(Json{{"review", "x"}}).empty());
  const EngineConfig& judge = c.engines.at("judge");
  EXPECT_EQ(judge.model, "/data/models/m.gguf");  // relative to the file's folder
  EXPECT_EQ(judge.parallel, 2);
  EXPECT_DOUBLE_EQ(judge.keep_alive, 60);
  EXPECT_EQ(judge.options["context"], 1024);
  EXPECT_EQ(c.file_sha256.size(), 64u);
}

TEST(ChainFileTest, UnknownTopLevelKeyNamesFileAndLine) {
  const std::string msg = error_of(replace(kGood, "batch_size: 4", "batchsize: 4"));
  EXPECT_NE(msg.find("/data/c.yaml:13: unknown key 'batchsize'"), std::string::npos) << msg;
}

TEST(ChainFileTest, UnknownStepKeyNamesFileAndLine) {
  const std::string msg = error_of(replace(kGood, "    retries: 1", "    retry: 1"));
  EXPECT_NE(msg.find("/data/c.yaml:21: unknown key 'retry' in step"), std::string::npos) << msg;
}

TEST(ChainFileTest, UnsupportedSchemaKeywordNamesLine) {
  const std::string msg = error_of(replace(kGood, "review: {type: string}", "review: {type: string, format: uri}"));
  EXPECT_NE(msg.find("/data/c.yaml:5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("format \"uri\" is neither enforced while generating nor checked after it"), std::string::npos)
      << msg;
}

TEST(ChainFileTest, UnknownEngineTypeAndDuplicateIdAreRefused) {
  EXPECT_NE(error_of(replace(kGood, "engine: judge", "engine: nope"))
                .find("c.yaml:16: step 'verdict' uses unknown engine 'nope'"),
            std::string::npos);
  EXPECT_NE(error_of(replace(kGood, "output: Verdict", "output: Verdikt")).find("c.yaml:17: unknown type 'Verdikt'"),
            std::string::npos);
  EXPECT_NE(error_of(replace(kGood, "step: note", "step: verdict")).find("used twice"), std::string::npos);
}

TEST(ChainFileTest, TemplateSyntaxErrorNamesLine) {
  const std::string msg = error_of(replace(kGood, "{{ verdict.label }}", "{% if %}"));
  EXPECT_NE(msg.find("/data/c.yaml:24: `user`: template error"), std::string::npos) << msg;
}

TEST(ChainFileTest, MissingRequiredPartsAreRefused) {
  EXPECT_NE(error_of("steps: []").find("missing `chain: <name>`"), std::string::npos);
  EXPECT_NE(error_of("chain: x\nsteps: []").find("`steps` must be a non-empty list"), std::string::npos);
  EXPECT_NE(error_of("chain: x\nsteps:\n  - step: a\n    user: hi\n").find("needs `output:`"), std::string::npos);
  EXPECT_NE(error_of("chain: x\nsteps:\n  - apply: a\n").find("needs `fn:`"), std::string::npos);
  EXPECT_NE(error_of("chain: x\nsteps:\n  - branch: b\n").find("needs a non-empty `steps:`"), std::string::npos);
}

TEST(ChainFileTest, TemplateNameMissingFromTheHistoryIsRefusedAtLoad) {
  const std::string msg = error_of(replace(kGood, "{{ verdict.label }}", "{{ verdikt.label }}"));
  EXPECT_NE(msg.find("/data/c.yaml:24: `user` reads 'verdikt'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("available: chain_input, row_id, verdict"), std::string::npos) << msg;
  // A later step's output is not in the history yet.
  const std::string later = error_of(replace(kGood, "Review: {{ chain_input.review }}", "{{ note.text }}"));
  EXPECT_NE(later.find("reads 'note'"), std::string::npos) << later;
}

TEST(ChainFileTest, AFieldTheTypeDoesNotDeclareIsRefusedAtLoad) {
  const std::string msg = error_of(replace(kGood, "{{ verdict.label }}", "{{ verdict.lable }}"));
  EXPECT_NE(msg.find("/data/c.yaml:24: `user` reads 'verdict.lable', but type Verdict has no field 'lable'"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("(fields: label, confidence)"), std::string::npos) << msg;
  const std::string input = error_of(replace(kGood, "chain_input.review", "chain_input.reviw"));
  EXPECT_NE(input.find("reads 'chain_input.reviw'"), std::string::npos) << input;
  // Filters and methods on a declared field are the engine's business.
  EXPECT_EQ(error_of(replace(kGood, "{{ verdict.label }}", "{{ verdict.label | upper }} {{ verdict.label.x }}")), "");
}

TEST(ChainFileTest, BadStepIdsAndPatternsAndBackendsAreRefused) {
  EXPECT_NE(error_of(replace(kGood, "step: note", "step: ../x")).find("must be letters, digits and _"),
            std::string::npos);
  EXPECT_NE(error_of(replace(kGood, "step: note", "step: input")).find("reserved"), std::string::npos);
  EXPECT_NE(error_of(replace(kGood, "review: {type: string}", "review: {type: string, pattern: \"[a-\"}"))
                .find("not a valid regular expression"),
            std::string::npos);
  EXPECT_NE(error_of(replace(kGood, "backend: llama", "backend: tgi")).find("c.yaml:3: engine 'judge': backend 'tgi'"),
            std::string::npos);
}

TEST(ChainFileTest, BadYamlNamesLine) {
  const std::string msg = error_of("chain: x\nsteps:\n  - step: [a\n");
  EXPECT_NE(msg.find("/data/c.yaml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid YAML"), std::string::npos) << msg;
}

TEST(ChainFileTest, WrongValueKindNamesLine) {
  const std::string msg = error_of(replace(kGood, "retries: 1", "retries: many"));
  EXPECT_NE(msg.find("/data/c.yaml:21: `retries` has the wrong kind of value"), std::string::npos) << msg;
}

TEST(ChainFileTest, JsonIsAcceptedToo) {
  Chain c =
      parse_chain(R"({"chain": "j", "steps": [{"step": "s", "output": {"type": "string"}, "user": "hi"}]})", "j.json");
  EXPECT_EQ(node_id(c.steps.at(0)), "s");
}

// Found by fuzz_chain_file and fuzz_graph_file: text that is not UTF-8 aborted the load (a
// schema's error message, as JSON, could not be written). Refused at its line instead.
TEST(ChainFileTest, TextThatIsNotUtf8IsRefusedAtItsLine) {
  const std::string text = "chain: c\nsteps:\n  - step: a\n    prompt: \"caf\xe9\"\n";
  try {
    parse_chain(text, "/x/latin1.yaml");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.where().line, 4) << e.what();
    EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      parse_graph("graph: g\nstart: A\nnodes:\n  A: {fields: {x: {type: \"\xc3\x28\"}}, next: []}\n", "/x/g.yaml"),
      ConfigError);
}

// A plain YAML number that no double or 64-bit integer holds is text, not infinity or a clipped
// integer: the schema check refuses it at its line, as JSON input refuses 1e999.
TEST(ChainFileTest, ANumberBeyondADoubleOrA64BitIntegerIsNotANumber) {
  for (const std::string bound : {"maximum: 1e999", "maximum: nan(1)", "maxLength: 99999999999999999999"}) {
    const std::string text = "chain: c\nsteps:\n  - step: a\n    output: {type: string, " + bound + "}\n    user: hi\n";
    try {
      parse_chain(text, "/x/huge.yaml");
      FAIL() << "accepted " << bound;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.where().line, 4) << e.what();
      EXPECT_NE(std::string(e.what()).find("must be a"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace skein
