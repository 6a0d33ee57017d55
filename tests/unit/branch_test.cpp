// Branches and parallel groups: every branch runs on copies of the records, its outputs go under
// its own folder, and join puts the branch's last output under the alias for the right record.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "run_folder.hpp"
#include "skein/chain.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

const char* kLeadingGroup = R"(chain: translate
steps:
  - parallel:
      - branch: fr
        join: fr
        steps:
          - apply: to_fr
            fn: map
            set: {text: "'fr:' ~ chain_input.text"}
      - branch: es
        join: es
        steps:
          - apply: to_es
            fn: map
            set: {text: "'es:' ~ chain_input.text"}
      - branch: words
        join: words
        steps:
          - apply: word
            fn: explode
            field: chain_input.text.split(' ')
          - apply: long_word
            fn: filter
            where: word | length > 3
          - apply: kept
            fn: map
            set: {w: word}
  - apply: summary
    fn: map
    set: {all: "fr.text ~ '|' ~ es.text", n_words: "(words or []) | length"}
)";

using test::read_jsonl;
using BranchTest = test::RunFolderTest;

TEST_F(BranchTest, LeadingParallelGroupRunsEveryBranchAndJoinsPerRecord) {
  Chain chain = parse_chain(kLeadingGroup, (dir_ / "c.yaml").string());
  RunSummary s = run(
      chain, "{\"text\": \"good morning dear friends\"}\n{\"text\": \"hi\"}\n{\"text\": \"small cats sleep\"}\n", 2);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(read_jsonl(dir_ / "out/fr/to_fr/000.jsonl").size(), 3u);
  EXPECT_EQ(read_jsonl(dir_ / "out/es/to_es/000.jsonl").size(), 3u);
  EXPECT_EQ(read_jsonl(dir_ / "out/words/word/000.jsonl").size(), 8u);
  const auto summary = read_jsonl(dir_ / "out/summary/000.jsonl");
  ASSERT_EQ(summary.size(), 3u);
  EXPECT_EQ(summary[0]["output"]["all"], "fr:good morning dear friends|es:good morning dear friends");
  EXPECT_EQ(summary[0]["output"]["n_words"], 4);  // good, morning, dear, friends
  EXPECT_EQ(summary[1]["output"]["all"], "fr:hi|es:hi");
  EXPECT_EQ(summary[2]["output"]["all"], "fr:small cats sleep|es:small cats sleep");
  EXPECT_EQ(summary[2]["output"]["n_words"], 3);
  // The joined values are in the history: a fanned-out branch joins as a list.
  const auto flat = read_jsonl(dir_ / "out/flattened/000.jsonl");
  EXPECT_EQ(flat[0]["fr.text"], "fr:good morning dear friends");
  EXPECT_EQ(flat[2]["words"], Json::parse(R"([{"w": "small"}, {"w": "cats"}, {"w": "sleep"}])"));
  EXPECT_TRUE(flat[1]["words"].is_null()) << "no long word: the branch dropped the record";
}

TEST_F(BranchTest, ABranchThatDropsARecordJoinsNull) {
  Chain chain = parse_chain(R"(chain: c
steps:
  - branch: only_big
    join: big
    steps:
      - apply: keep
        fn: filter
        where: chain_input.n > 10
  - apply: out
    fn: map
    set: {big: big}
)",
                            (dir_ / "c.yaml").string());
  run(chain, "{\"n\": 5}\n{\"n\": 50}\n");
  const auto out = read_jsonl(dir_ / "out/out/000.jsonl");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0]["output"]["big"].is_null());
  EXPECT_EQ(out[1]["output"]["big"], true);
}

TEST_F(BranchTest, NestedBranchesJoinInsideTheirBranchAndWriteNestedFolders) {
  Chain chain = parse_chain(R"(chain: nested
steps:
  - branch: outer
    join: outer
    steps:
      - apply: doubled
        fn: map
        set: {n: "chain_input.n * 2"}
      - parallel:
          - branch: inner_a
            join: a
            steps:
              - apply: plus
                fn: map
                set: {n: "doubled.n + 1"}
          - branch: inner_b
            join: b
            steps:
              - apply: minus
                fn: map
                set: {n: "doubled.n - 1"}
      - apply: both
        fn: map
        set: {sum: "a.n + b.n"}
  - apply: result
    fn: map
    set: {sum: outer.sum}
)",
                            (dir_ / "c.yaml").string());
  RunSummary s = run(chain, "{\"n\": 5}\n{\"n\": 1}\n{\"n\": -3}\n", 2);
  EXPECT_EQ(s.errors, 0u);
  const auto plus = read_jsonl(dir_ / "out/outer/inner_a/plus/000.jsonl");
  ASSERT_EQ(plus.size(), 3u);
  EXPECT_EQ(plus[0]["output"]["n"], 11);
  EXPECT_EQ(read_jsonl(dir_ / "out/outer/inner_b/minus/000.jsonl")[2]["output"]["n"], -7);
  const auto result = read_jsonl(dir_ / "out/result/000.jsonl");
  ASSERT_EQ(result.size(), 3u);
  EXPECT_EQ(result[0]["output"]["sum"], 20);
  EXPECT_EQ(result[1]["output"]["sum"], 4);
  EXPECT_EQ(result[2]["output"]["sum"], -12);
  EXPECT_EQ(result[2]["id"], "2");
}

TEST(BranchFileTest, BranchesSeeTheMainHistoryButNotTheirSiblings) {
  EXPECT_NO_THROW(parse_chain(kLeadingGroup, "c.yaml"));
  try {
    parse_chain(R"(chain: c
steps:
  - parallel:
      - branch: a
        steps:
          - apply: x
            fn: map
            set: {v: row_id}
      - branch: b
        steps:
          - apply: y
            fn: map
            set: {v: x.v}
)",
                "c.yaml");
    FAIL() << "a sibling branch's output must not be visible";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("reads 'x'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_chain("chain: c\nsteps:\n  - parallel:\n      - branch: a\n        steps:\n          - apply: a\n"
                           "            fn: map\n            set: {v: row_id}\n",
                           "c.yaml"),
               ConfigError);  // ids are unique across branches too
}

}  // namespace
}  // namespace skein
