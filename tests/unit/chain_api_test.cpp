// The library API builds the same representation as the chain file: a chain written in C++ and the
// same chain loaded from YAML have the same graph.json and produce the same run folder.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "run_folder.hpp"
#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "test_engine.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

const char* kYaml = R"(chain: api
types:
  Label: {type: object, properties: {label: {type: string}}, required: [label]}
batch_size: 2
steps:
  - parallel:
      - branch: sizes
        join: size
        steps:
          - apply: measured
            fn: map
            set: {n: "chain_input.words | length"}
      - branch: words
        steps:
          - apply: word
            fn: explode
            field: chain_input.words
  - apply: long
    fn: filter
    where: size.n >= 2
  - step: label
    output: Label
    user: "{{ chain_input.words | join(' ') }}"
    sampling: {temperature: 0, max_tokens: 8}
)";

Chain built_in_cpp() {
  Chain c;
  c.name = "api";
  c.batch_size = 2;
  auto map = Apply{"measured", ApplyKind::map};
  map.set.push_back({"n", std::make_shared<Expression>("chain_input.words | length")});
  auto explode = Apply{"word", ApplyKind::explode};
  explode.field = std::make_shared<Expression>("chain_input.words");
  Parallel group;
  group.branches.push_back(Branch{"sizes", "size", {map}});
  group.branches.push_back(Branch{"words", std::nullopt, {explode}});
  auto filter = Apply{"long", ApplyKind::filter};
  filter.where = std::make_shared<Expression>("size.n >= 2");
  Step label;
  label.id = "label";
  c.types.add("Label", Json::parse(R"({"type": "object", "properties": {"label": {"type": "string"}},
                                      "required": ["label"]})"));
  label.output = c.types.get("Label");
  label.user = std::make_shared<Template>("{{ chain_input.words | join(' ') }}");
  label.sampling.temperature = 0;
  label.sampling.max_tokens = 8;
  c.steps = {group, filter, label};
  return c;
}

// graph.json without the file locations, which only a loaded file has.
Json graph_without_locations(const Chain& c) {
  Json g = chain_json(c);
  for (auto& n : g["nodes"]) n.erase("location");
  return g;
}

using ChainApiTest = test::RunFolderTest;

TEST_F(ChainApiTest, ACppChainAndItsYamlAreOneRepresentation) {
  const Chain from_file = parse(kYaml);
  const Chain from_cpp = built_in_cpp();
  EXPECT_EQ(graph_without_locations(from_cpp), graph_without_locations(from_file));
  EXPECT_EQ(history_keys(from_cpp.steps[0]), history_keys(from_file.steps[0]));
  EXPECT_EQ(node_id(from_cpp.steps[0]), "(sizes|words)");
}

// The mistake a check must catch, made in the YAML text and in the C++ chain alike.
struct Mistake {
  const char* name;
  std::string yaml_from, yaml_to;  // replaced once in kYaml
  std::function<void(Chain&)> in_cpp;
  std::string message;  // the error, without its location
};

Step& label_step(Chain& c) { return std::get<Step>(c.steps[2]); }
Apply& filter_apply(Chain& c) { return std::get<Apply>(c.steps[1]); }

std::vector<Mistake> mistakes() {
  return {
      {"a template name the history lacks", "{{ chain_input.words | join(' ') }}", "{{ verdict }}",
       [](Chain& c) { label_step(c).user = std::make_shared<Template>("{{ verdict }}"); },
       "`user` reads 'verdict', which the history does not have here (available: chain_input, row_id, size, long)"},
      {"a field its type lacks", "max_tokens: 8}",
       "max_tokens: 8}\n  - step: again\n    output: Label\n"
       "    user: \"{{ label.title }}\"",
       [](Chain& c) {
         Step again = label_step(c);
         again.id = "again";
         again.user = std::make_shared<Template>("{{ label.title }}");
         c.steps.push_back(again);
       },
       "`user` reads 'label.title', but type Label has no field 'title' (fields: label)"},
      {"a branch's output read beside it", "field: chain_input.words", "field: size",
       [](Chain& c) {
         auto& words = std::get<Parallel>(c.steps[0]).branches[1];
         std::get<Apply>(words.steps[0]).field = std::make_shared<Expression>("size");
       },
       "`field` reads 'size', which the history does not have here (available: chain_input, row_id)"},
      {"an id used twice", "apply: long", "apply: word", [](Chain& c) { filter_apply(c).id = "word"; },
       "node id 'word' is used twice (first at "},
      {"an undeclared engine", "output: Label", "output: Label\n    engine: remote",
       [](Chain& c) { label_step(c).engine = "remote"; }, "step 'label' uses unknown engine 'remote'"},
      {"a key its fn does not take", "where: size.n >= 2", "where: size.n >= 2\n    field: size",
       [](Chain& c) { filter_apply(c).field = std::make_shared<Expression>("size"); },
       "`field` does not apply to fn filter"},
      {"a negative retry count", "output: Label", "output: Label\n    retries: -1",
       [](Chain& c) { label_step(c).retries = -1; }, "`retries` must be 0 or more"},
  };
}

TEST_F(ChainApiTest, TheSameMistakeGetsTheSameErrorBothWaysBeforeAnythingRuns) {
  for (const auto& m : mistakes()) {
    SCOPED_TRACE(m.name);
    std::string yaml = kYaml;
    ASSERT_NE(yaml.find(m.yaml_from), std::string::npos);
    yaml.replace(yaml.find(m.yaml_from), m.yaml_from.size(), m.yaml_to);
    std::string from_file, from_cpp, from_run;
    int line = 0;
    try {
      parse(yaml);
    } catch (const ConfigError& e) {
      from_file = e.message();
      line = e.where().line;
      EXPECT_EQ(e.where().file, (dir_ / "chain.yaml").string());
    }
    Chain c = built_in_cpp();
    m.in_cpp(c);
    try {
      check_chain(c);
    } catch (const ConfigError& e) {
      from_cpp = e.message();
      EXPECT_EQ(e.where().file, "");
    }
    try {
      run(c, "{\"words\": [\"a\", \"b\"]}\n");
    } catch (const ConfigError& e) {
      from_run = e.message();
    }
    // The first id's location differs (a line, <api>); the rest is the same.
    EXPECT_EQ(from_file.substr(0, m.message.size()), m.message);
    EXPECT_EQ(from_cpp.substr(0, m.message.size()), m.message);
    EXPECT_EQ(from_run, from_cpp);
    EXPECT_GT(line, 0) << "the file's error names the offending line";
    EXPECT_FALSE(fs::exists(dir_ / "out")) << "nothing ran";
  }
}

TEST_F(ChainApiTest, AnErrorPointsAtTheKeysLineInTheFile) {
  std::string yaml = kYaml;
  yaml.replace(yaml.find("{{ chain_input.words"), 0, "{{ verdict }}");
  try {
    parse(yaml);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.where().line, 23);  // `user:` of the step, not `step:` above it
  }
}

TEST_F(ChainApiTest, ANativeFunctionMustBeRegisteredToRunButNotToLoad) {
  Chain c = built_in_cpp();
  filter_apply(c) = Apply{"tag", ApplyKind::native, "tagger"};
  EXPECT_NO_THROW(check_chain(c, false));
  try {
    check_chain(c);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.message(), "apply 'tag': no function named 'tagger' is registered");
  }
  c.functions["tagger"] = [](const Json&) { return std::vector<Json>{true}; };
  EXPECT_NO_THROW(check_chain(c));
}

TEST_F(ChainApiTest, WarningsAreTheSameBothWaysAndReachTheRun) {
  std::string yaml = kYaml;
  const std::string user = "{{ chain_input.words | join(' ') }}";
  yaml.replace(yaml.find(user), user.size(), "Name a thing.");
  std::vector<ChainWarning> from_file;
  parse_chain(yaml, (dir_ / "chain.yaml").string(), &from_file);
  Chain c = built_in_cpp();
  label_step(c).user = std::make_shared<Template>("Name a thing.");
  const auto from_cpp = check_chain(c);
  ASSERT_EQ(from_file.size(), 1u);
  ASSERT_EQ(from_cpp.size(), 1u);
  EXPECT_EQ(from_file[0].message, from_cpp[0].message);
  EXPECT_EQ(from_cpp[0].message, "step 'label' reads nothing from the history: every record gets the same prompt");
  EXPECT_EQ(from_file[0].where.line, 21);  // the step's
  std::vector<std::string> warned;
  RunOptions o;
  o.input_path = (dir_ / "in.jsonl").string();
  o.output_dir = (dir_ / "out").string();
  o.on_warning = [&](const std::string& w) { warned.push_back(w); };
  std::ofstream(o.input_path) << "{\"words\": [\"a\", \"b\"]}\n";
  run_chain(c, o);
  ASSERT_FALSE(warned.empty());
  EXPECT_EQ(warned[0], "<api>: " + from_cpp[0].message);
}

// The same chain, built in C++ and loaded from its file, writes the same run folder (graph.json
// compared without the file's locations).
TEST_F(ChainApiTest, BothWaysWriteTheSameRunFolderFileByFile) {
  const std::string input =
      "{\"words\": [\"red\", \"fox\"]}\n{\"words\": [\"one\"]}\n{\"words\": [\"a\", \"b\", \"c\"]}\n";
  std::ofstream(dir_ / "in.jsonl") << input;
  const auto run_into = [&](const Chain& c, const std::string& out) {
    RunOptions o;
    o.input_path = (dir_ / "in.jsonl").string();
    o.output_dir = (dir_ / out).string();
    const RunSummary s = run_chain(c, o);
    EXPECT_EQ(s.status, ChainStatus::done);
    return test::artefacts(dir_ / out);
  };
  auto from_file = run_into(parse(kYaml), "file");
  auto from_cpp = run_into(built_in_cpp(), "cpp");
  const auto graph = [](std::string text) {
    Json g = Json::parse(text);
    for (auto& n : g["nodes"]) n.erase("location");
    return g;
  };
  EXPECT_EQ(graph(from_file.at("graph.json")), graph(from_cpp.at("graph.json")));
  from_file.erase("graph.json");
  from_cpp.erase("graph.json");
  EXPECT_EQ(from_file, from_cpp);
  EXPECT_GE(from_cpp.size(), 5u);  // every node's folder, flattened, errors
  EXPECT_NE(from_cpp.at("label/000.jsonl"), "");
}

// The message of the ConfigError `f` throws, or "" when it accepts.
template <typename F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.message();
  }
  return "";
}

TEST_F(ChainApiTest, ABranchSeesItsOwnEarlierNodesAndNothingOfAnEarlierBranchWithoutAJoin) {
  const std::string inner = R"(chain: scopes
steps:
  - branch: b
    steps:
      - apply: first
        fn: map
        set: {n: "1"}
      - apply: second
        fn: map
        set: {m: "first.n + 1"}
)";
  EXPECT_NO_THROW(parse(inner));
  const std::string after = inner + R"(  - apply: later
    fn: map
    set: {k: "second.m"}
)";
  EXPECT_EQ(refusal([&] { parse(after); }),
            "`set.k` reads 'second', which the history does not have here (available: chain_input, row_id)");
  Chain c = parse(inner);
  Apply later{"later", ApplyKind::map};
  later.set.push_back({"k", std::make_shared<Expression>("second.m")});
  c.steps.push_back(later);
  EXPECT_EQ(refusal([&] { check_chain(c); }),
            "`set.k` reads 'second', which the history does not have here (available: chain_input, row_id)");
}

TEST_F(ChainApiTest, ANativeFunctionNamedInTheFileRunsOnceRegistered) {
  Chain c = parse("chain: native\nsteps:\n  - apply: tag\n    fn: tagger\n");
  const Apply& a = std::get<Apply>(c.steps[0]);
  EXPECT_EQ(a.kind, ApplyKind::native);
  EXPECT_EQ(fn_name(a), "tagger");
  EXPECT_EQ(refusal([&] { run(c, "{\"n\": 1}\n"); }), "apply 'tag': no function named 'tagger' is registered");
  c.functions["tagger"] = [](const Json& h) { return std::vector<Json>{h["chain_input"]["n"].get<int>() * 2}; };
  EXPECT_EQ(run(c, "{\"n\": 1}\n").records_out, 1u);
  EXPECT_EQ(test::read_jsonl(dir_ / "out" / "tag" / "000.jsonl").at(0)["output"], 2);
}

TEST_F(ChainApiTest, TheApplyApiRefusesWhatAFileCouldNotSay) {
  Chain c = built_in_cpp();
  filter_apply(c).fn = "tagger";  // a filter that also names a function
  EXPECT_EQ(refusal([&] { check_chain(c, false); }),
            "apply 'long' is a built-in filter and names a function ('tagger') too");
  filter_apply(c) = Apply{"long", ApplyKind::native, "map"};
  EXPECT_EQ(refusal([&] { check_chain(c, false); }),
            "apply 'long': a native function cannot be named after the built-in map");
  filter_apply(c) = Apply{"long"};
  EXPECT_EQ(refusal([&] { check_chain(c, false); }),
            "apply 'long' needs `fn:` (filter, map, explode, exec or a registered name)");
  filter_apply(c) = Apply{"long", ApplyKind::map};
  filter_apply(c).set.push_back({"n", nullptr});
  EXPECT_EQ(refusal([&] { check_chain(c, false); }), "`set.n` has no expression");
}

TEST_F(ChainApiTest, AKeyGivenEmptyStillCountsAsGiven) {
  const std::string head = "chain: keys\nsteps:\n  - apply: a\n    fn: ";
  EXPECT_EQ(refusal([&] { parse(head + "filter\n    where: \"true\"\n    set: {}\n"); }),
            "`set` does not apply to fn filter");
  EXPECT_EQ(refusal([&] { parse(head + "explode\n    field: chain_input.xs\n    command: []\n"); }),
            "`command` does not apply to fn explode");
  EXPECT_EQ(refusal([&] { parse(head + "map\n    set: {}\n"); }), "");
  // A key the fn does not take is refused before its value is read.
  EXPECT_EQ(refusal([&] { parse(head + "filter\n    where: \"true\"\n    timeout: soon\n"); }),
            "`timeout` does not apply to fn filter");
}

// A Step may use an engine only its run's broker holds (a host's): run_chain counts it as declared.
TEST_F(ChainApiTest, AnEngineTheRunsBrokerHoldsNeedsNoDeclaration) {
  Chain c = built_in_cpp();
  label_step(c).engine = "host_engine";
  EXPECT_EQ(refusal([&] { check_chain(c); }), "step 'label' uses unknown engine 'host_engine'");
  Broker broker({}, [](const EngineConfig& config) -> std::unique_ptr<Engine> {
    return std::make_unique<test::SchemaEngine>(config.name);
  });
  broker.add(test::test_config("host_engine"));
  std::ofstream(dir_ / "in.jsonl") << "{\"words\": [\"a\", \"b\"]}\n";
  RunOptions o;
  o.input_path = (dir_ / "in.jsonl").string();
  o.output_dir = (dir_ / "out").string();
  o.broker = &broker;
  const RunSummary s = run_chain(c, o);
  EXPECT_EQ(s.status, ChainStatus::done);
  EXPECT_EQ(s.nodes.at("label").engine_calls, 1);
  broker.flush(true);
  broker.settle();
}

}  // namespace
}  // namespace skein
