// Inputs: JSONL or a JSON array, a declared input type, bad records as error records with their
// line (or element) number, --strict refusing the file before anything runs, and one warning when
// the first node has no declared input type.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "chain/input_reader.hpp"
#include "run_folder.hpp"
#include "skein/chain.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;
using test::read_jsonl;

const char* kTyped = R"(chain: typed
types:
  Item: {type: object, properties: {n: {type: integer}}, required: [n]}
input: Item
steps:
  - apply: doubled
    fn: map
    set: {n2: "chain_input.n * 2"}
)";

class InputTest : public test::RunFolderTest {
 protected:
  RunSummary run_with(const std::string& chain_text, const std::string& input, bool strict = false) {
    std::ofstream(dir_ / "in.json") << input;
    RunOptions o;
    o.input_path = (dir_ / "in.json").string();
    o.output_dir = (dir_ / "out").string();
    o.strict = strict;
    o.on_warning = [this](const std::string& w) { warnings_.push_back(w); };
    o.on_progress = [this](const RunProgress& p) { totals_.push_back({p.rows_total, p.rows_total_estimated}); };
    return run_chain(parse(chain_text), o);
  }
  std::map<int, std::string> input_errors() {
    std::map<int, std::string> by_line;
    for (const auto& e : read_jsonl(dir_ / "out/errors.jsonl"))
      if (e["node"] == "input") by_line[e["line"].get<int>()] = e["reason"].get<std::string>();
    return by_line;
  }
  std::vector<std::string> warnings_;
  std::vector<std::pair<std::optional<size_t>, bool>> totals_;  // each progress call's total, estimated
};

TEST_F(InputTest, AJsonArrayOfRecordsIsReadAndABadElementIsAnErrorRecord) {
  RunSummary s = run_with(kTyped, "[{\"n\": 1},\n 7,\n {\"n\": \"x\"},\n {\"n\": 4}]\n");
  EXPECT_EQ(s.records_in, 4u);
  EXPECT_EQ(s.nodes["doubled"].out, 2u);
  const auto out = read_jsonl(dir_ / "out/doubled/000.jsonl");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1]["output"]["n2"], 8);
  EXPECT_EQ(out[1]["id"], "3");
  const auto errors = input_errors();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors.at(2).find("element 2: a record must be a JSON object, got number"), std::string::npos);
  EXPECT_NE(errors.at(3).find("record does not match the input type"), std::string::npos);
}

// Bad lines after the last batch of records make no batch of their own: their error records are
// still written (and counted) before the run ends.
TEST_F(InputTest, BadLinesAtTheEndAfterTheLastBatchAreErrorRecordsToo) {
  std::ofstream(dir_ / "in.jsonl") << "{\"n\": 1}\n{\"n\": 2}\nnot json\n{\"n\": \"x\"}\n";
  RunOptions o;
  o.input_path = (dir_ / "in.jsonl").string();
  o.output_dir = (dir_ / "out").string();
  o.batch_size = 2;  // the two records fill the first batch; the bad lines come after it
  const RunSummary s = run_chain(parse(kTyped), o);
  EXPECT_EQ(s.records_in, 4u);
  EXPECT_EQ(s.errors, 2u);
  EXPECT_EQ(read_jsonl(dir_ / "out/doubled/000.jsonl").size(), 2u);
  const auto errors = input_errors();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors.at(3).find("not valid JSON"), std::string::npos) << errors.at(3);
  EXPECT_NE(errors.at(4).find("record does not match the input type"), std::string::npos) << errors.at(4);
  const Json run = Json::parse(std::ifstream(dir_ / "out/run.json"));
  EXPECT_EQ(run.at("resume").at("files").at("errors").at("lines"), 2);  // the last checkpoint covers them
}

TEST_F(InputTest, AMalformedJsonArrayIsRefusedWithItsLine) {
  try {
    run_with(kTyped, "[{\"n\": 1},\n{\"n\": 2},\n{\"n\": 3,,}\n]");
    FAIL() << "a malformed array was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("in.json:3"), std::string::npos) << e.what();
  }
  try {  // blank lines in front of the array count
    run_with(kTyped, "\n\n[{\"n\": 1},\n{oops}]");
    FAIL() << "a malformed array was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("in.json:4"), std::string::npos) << e.what();
  }
}

// A number beyond a double (found by fuzz_input_line) is a bad line like any other, not an abort.
TEST_F(InputTest, ANumberOutOfRangeIsAnErrorRecordAndTheRunGoesOn) {
  RunSummary s = run_with(kTyped, "{\"n\": 1}\n{\"n\": 3.25e5555555555}\n[3.2e55555555555]\n{\"n\": 4}\n");
  EXPECT_EQ(s.status, ChainStatus::done);
  EXPECT_EQ(s.nodes["doubled"].out, 2u);
  const auto errors = input_errors();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors.at(2).find("line 2: not valid JSON"), std::string::npos) << errors.at(2);
  EXPECT_NE(errors.at(3).find("line 3: not valid JSON"), std::string::npos) << errors.at(3);
}

TEST_F(InputTest, StrictRefusesTheFileAtTheFirstBadRecordBeforeAnythingRuns) {
  const std::string jsonl = "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 2.5}\n{oops\n";
  try {
    run_with(kTyped, jsonl, true);
    FAIL() << "--strict accepted a bad record";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("in.json:3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("does not match the input type"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "out/doubled/000.jsonl"));  // nothing ran
  // Without --strict the same file runs: the good records go on, the bad ones are error records.
  RunSummary s = run_with(kTyped, jsonl);
  EXPECT_EQ(s.nodes["doubled"].out, 2u);
  EXPECT_EQ(input_errors().size(), 2u);
  EXPECT_NE(input_errors().at(4).find("line 4: not valid JSON"), std::string::npos);
}

// Blank lines before the first record still count: its error names its own line.
TEST_F(InputTest, BlankLinesBeforeTheFirstRecordCountInItsLineNumber) {
  RunSummary s = run_with(kTyped, "\n  \n{oops\n{\"n\": 1}\n");
  EXPECT_EQ(s.nodes["doubled"].out, 1u);
  const auto errors = input_errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors.at(3).find("line 3: not valid JSON"), std::string::npos) << errors.begin()->second;
}

// A checkpoint's input_position counts the blank lines in front of JSONL's first record; an older
// skein's did not, and resuming it adds them. An array's position counts elements: none to add.
TEST_F(InputTest, TheBlankLinesInFrontCountForJsonlAndNotForAnArray) {
  std::ofstream(dir_ / "lines.jsonl") << "\n \n{\"n\": 1}\n{\"n\": 2}\n";
  InputReader lines((dir_ / "lines.jsonl").string());
  EXPECT_EQ(lines.leading_blank_lines(), 2u);
  ASSERT_TRUE(lines.next());
  EXPECT_EQ(lines.position(), 3u);
  std::ofstream(dir_ / "array.json") << "\n \n[{\"n\": 1}, {\"n\": 2}]";
  InputReader array((dir_ / "array.json").string());
  EXPECT_EQ(array.leading_blank_lines(), 0u);
  ASSERT_TRUE(array.next());
  EXPECT_EQ(array.position(), 1u);
}

// The input is read once: until its end, the progress total of a JSONL file is an estimate from
// the bytes read (exact here, every line being as long); at the end it is the count.
TEST_F(InputTest, TheProgressTotalIsEstimatedFromTheBytesReadAndExactAtTheEnd) {
  std::string chain = kTyped;
  chain.insert(chain.find("steps:"), "batch_size: 10\n");
  std::string lines;
  for (int i = 100; i < 200; ++i) lines += "{\"n\": " + std::to_string(i) + "}\n";
  run_with(chain, lines);
  ASSERT_GE(totals_.size(), 2u);
  EXPECT_EQ(totals_.front().first, 100u);
  EXPECT_TRUE(totals_.front().second);
  EXPECT_EQ(totals_.back().first, 100u);
  EXPECT_FALSE(totals_.back().second);
  // Lines of unequal length: a rougher estimate (here the short first line makes it high).
  totals_.clear();
  lines = "{\"n\": 1}\n";
  for (int i = 0; i < 30; ++i) lines += "{\"n\": 2, \"pad\": \"" + std::string(200, 'x') + "\"}\n";
  run_with(chain, lines);
  ASSERT_GE(totals_.size(), 2u);
  EXPECT_TRUE(totals_.front().second);
  EXPECT_GE(*totals_.front().first, 10u);
  EXPECT_NE(*totals_.front().first, 31u);
  EXPECT_EQ(totals_.back().first, 31u);
  // A JSON array is parsed whole: exact from the start.
  totals_.clear();
  run_with(chain, "[{\"n\": 1}, {\"n\": 2}, {\"n\": 3}]");
  ASSERT_FALSE(totals_.empty());
  EXPECT_EQ(totals_.front(), std::make_pair(std::optional<size_t>(3), false));
}

TEST_F(InputTest, NoDeclaredInputTypeGivesPlainObjectsAndOneWarning) {
  std::string untyped = kTyped;
  untyped.erase(untyped.find("input: Item\n"), 12);
  std::string many;
  for (int i = 0; i < 50; ++i) many += "{\"n\": " + std::to_string(i) + "}\n";
  RunSummary s = run_with(untyped, many);
  EXPECT_EQ(s.nodes["doubled"].out, 50u);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("no `input:` type"), std::string::npos) << warnings_[0];
}

}  // namespace
}  // namespace skein
