// The library API builds the same representation as the chain file: a chain written in C++ and the
// same chain loaded from YAML have the same graph.json and produce the same run folder.
#include <gtest/gtest.h>

#include <filesystem>

#include "run_folder.hpp"
#include "skein/chain.hpp"

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
  auto map = Apply{"measured", "map"};
  map.set.push_back({"n", std::make_shared<Expression>("chain_input.words | length")});
  auto explode = Apply{"word", "explode"};
  explode.field = std::make_shared<Expression>("chain_input.words");
  Parallel group;
  group.branches.push_back(Branch{"sizes", "size", {map}});
  group.branches.push_back(Branch{"words", std::nullopt, {explode}});
  auto filter = Apply{"long", "filter"};
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

}  // namespace
}  // namespace skein
