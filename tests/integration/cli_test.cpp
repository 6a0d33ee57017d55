// The `skein` command line as users meet it: a graph run once or once per line, chain input on
// stdin; a file is a chain or a graph by its top-level key;
// `skein run GRAPH` honours the flags that make sense for graphs (progress and a summary, --quiet,
// --json-logs, NO_COLOR, --resume of a file of runs) and refuses chain-only ones with the reason;
// `skein engines` and `skein warmup`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "fixture.hpp"
#include "run_folder.hpp"
#include "shell.hpp"
#include "skein/json.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

using test::kSkein;
using test::Shell;
using test::shell;

constexpr const char* kGraph = R"(graph: triage
start: Ticket
nodes:
  Ticket:
    fields: {text: {type: string}}
    next: [Classify]
  Classify:
    fields: {kind: {enum: [bug, question]}}
    next: [end]
)";

// Lines 1 and 4 run; line 2 lacks the start node's field, line 3 is not JSON.
constexpr const char* kRuns = "{\"text\": \"a\"}\n{\"txt\": \"b\"}\nnot json\n{\"text\": \"c\"}\n";

// The JSON lines of `out` (stdout and stderr mixed); other lines are skipped.
std::vector<Json> json_lines(const std::string& out) {
  std::vector<Json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{') lines.push_back(Json::parse(line));
  return lines;
}

Json event(const std::vector<Json>& lines, const std::string& kind) {
  Json last;
  for (const auto& l : lines)
    if (l.value("event", "") == kind) last = l;
  return last;
}

class CliParityTest : public test::RunFolderTest {
 protected:
  void SetUp() override {
    RunFolderTest::SetUp();
    setenv("SKEIN_LOCAL_MODEL", test::model_path("local").c_str(), 1);
    std::ofstream(dir_ / "g.yaml") << kGraph;
    std::ofstream(dir_ / "runs.jsonl") << kRuns;
  }
  std::string run_graph(const std::string& flags) const {
    return kSkein + " run " + (dir_ / "g.yaml").string() + " -i " + (dir_ / "runs.jsonl").string() + " -o " +
           (dir_ / "out").string() + " " + flags;
  }
  std::map<int, Json> results() const {
    std::map<int, Json> by_line;
    for (const auto& r : test::read_jsonl(dir_ / "out/results.jsonl")) by_line[r["line"].get<int>()] = r;
    return by_line;
  }
};

TEST_F(CliParityTest, AChainFileThatSaysGraphIsRunAndInspectedAsAChain) {
  // The old rule (any line with "graph" in quotes, or starting with `graph:`) took this for a graph.
  std::ofstream(dir_ / "c.yaml") << "chain: words\nsteps:\n  - apply: label\n    fn: map\n"
                                    "    set: {\"graph\": \"'a graph of words'\"}\n";
  std::ofstream(dir_ / "in.jsonl") << "{\"n\": 1}\n";
  const Shell run = shell(kSkein + " run " + (dir_ / "c.yaml").string() + " -i " + (dir_ / "in.jsonl").string() +
                          " -o " + (dir_ / "c").string() + " --quiet");
  ASSERT_EQ(run.status, 0) << run.out;
  const auto out = test::read_jsonl(dir_ / "c/label/000.jsonl");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["output"]["graph"], "a graph of words");
  const Shell inspect = shell(kSkein + " inspect " + (dir_ / "c.yaml").string());
  EXPECT_EQ(inspect.status, 0) << inspect.out;
  EXPECT_NE(inspect.out.find("label"), std::string::npos) << inspect.out;
  EXPECT_EQ(inspect.out.find("Ticket"), std::string::npos) << inspect.out;
}

TEST_F(CliParityTest, AGraphRefusesChainOnlyFlagsWithTheReasonBeforeRunning) {
  for (const char* flag : {"--batch-size 4", "--max-lines-per-file 9", "--strict", "--no-cache",
                           "--cluster postgresql://x", "--shard-size 9", "--detach", "--lease-ms 1000"}) {
    const Shell r = shell(run_graph(flag));
    EXPECT_EQ(r.status, 2) << flag << ": " << r.out;
    const std::string name = std::string(flag).substr(0, std::string(flag).find(' '));
    EXPECT_NE(r.out.find(name + " is for chains"), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(dir_ / "out")) << flag;  // nothing ran
  }
  const Shell one = shell(kSkein + " run " + (dir_ / "g.yaml").string() + " --input '{\"text\": \"x\"}' --resume");
  EXPECT_EQ(one.status, 2) << one.out;
  EXPECT_NE(one.out.find("--resume is for a file of runs"), std::string::npos) << one.out;
}

TEST_F(CliParityTest, AFileOfGraphRunsReportsProgressAndASummaryAsJsonLines) {
  const Shell r = shell(run_graph("--json-logs"));
  EXPECT_EQ(r.status, 1) << r.out;  // two lines failed
  const auto lines = json_lines(r.out);
  ASSERT_FALSE(lines.empty()) << r.out;
  for (const auto& l : lines) EXPECT_TRUE(l.contains("event")) << l.dump();
  const Json progress = event(lines, "progress");
  EXPECT_EQ(progress["runs_total"], 4) << r.out;
  EXPECT_EQ(progress["runs_ended"], 4) << r.out;
  const Json summary = event(lines, "summary");
  EXPECT_EQ(summary["runs"], 4) << r.out;
  EXPECT_EQ(summary["runs_failed"], 2) << r.out;
  EXPECT_GT(summary["generated_tokens"].get<long long>(), 0) << r.out;
  EXPECT_EQ(results().size(), 4u);
}

TEST_F(CliParityTest, QuietShowsOnlyTheOutputFolder) {
  const Shell r = shell(run_graph("--quiet"));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_EQ(r.out, "outputs: " + (dir_ / "out").string() + "\n");
}

TEST_F(CliParityTest, ResumeKeepsTheWrittenResultsCutsAPartialLineAndRunsTheRest) {
  ASSERT_EQ(shell(run_graph("--quiet")).status, 1);
  const auto first = results();
  ASSERT_EQ(first.size(), 4u);
  // As if killed while writing: line 1's result whole, the next one cut in the middle.
  const Json kept = first.at(1);
  std::ofstream(dir_ / "out/results.jsonl", std::ios::trunc) << kept.dump() << "\n{\"line\": 4, \"inp";
  const Shell r = shell(run_graph("--resume --json-logs"));
  EXPECT_EQ(r.status, 1) << r.out;
  const Json summary = event(json_lines(r.out), "summary");
  EXPECT_EQ(summary["runs"], 4) << r.out;
  EXPECT_EQ(summary["runs_kept"], 1) << r.out;
  EXPECT_EQ(summary["runs_failed"], 2) << r.out;
  const auto after = results();
  ASSERT_EQ(after.size(), 4u);
  EXPECT_EQ(after.at(1), kept);  // not run again
  EXPECT_EQ(after.at(4)["status"], "done");
  EXPECT_EQ(test::read_jsonl(dir_ / "out/results.jsonl").size(), 4u);  // the cut line is gone
}

TEST_F(CliParityTest, ResumeRefusesResultsOfAnotherInputOrAnEditedGraph) {
  ASSERT_EQ(shell(run_graph("--quiet")).status, 1);
  const std::string results = test::artefacts(dir_ / "out").at("results.jsonl");
  std::ofstream(dir_ / "runs.jsonl", std::ios::trunc)
      << "{\"text\": \"A\"}\n{\"txt\": \"b\"}\nnot json\n{\"text\": \"c\"}\n";
  const Shell other_input = shell(run_graph("--resume"));
  EXPECT_EQ(other_input.status, 2) << other_input.out;
  EXPECT_NE(other_input.out.find("the result of line 1 was for another input"), std::string::npos) << other_input.out;
  std::ofstream(dir_ / "runs.jsonl", std::ios::trunc) << kRuns;
  std::ofstream(dir_ / "g.yaml", std::ios::app) << "max_iters: 5\n";
  const Shell other_graph = shell(run_graph("--resume"));
  EXPECT_EQ(other_graph.status, 2) << other_graph.out;
  EXPECT_NE(other_graph.out.find("the graph file changed"), std::string::npos) << other_graph.out;
  EXPECT_EQ(test::artefacts(dir_ / "out").at("results.jsonl"), results);  // refused before anything was touched
}

TEST_F(CliParityTest, OnATerminalProgressIsColouredUnlessNoColorIsSet) {
  // `script` gives the command a terminal; the progress bar is green there, plain under NO_COLOR.
  const std::string command = run_graph("");
  const Shell coloured = shell("script -qec \"" + command + "\" /dev/null");
  EXPECT_NE(coloured.out.find("\033[32m"), std::string::npos) << coloured.out;
  EXPECT_NE(coloured.out.find("runs: 4, 2 failed"), std::string::npos) << coloured.out;
  const Shell plain = shell("NO_COLOR=1 script -qec \"" + command + "\" /dev/null");
  EXPECT_EQ(plain.out.find("\033[32m"), std::string::npos) << plain.out;
  EXPECT_EQ(plain.out.find("\033[31m"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("runs: 4, 2 failed"), std::string::npos) << plain.out;
}

TEST_F(CliParityTest, EnginesListsTheBuiltInLocalAndTheFilesEngines) {
  std::ofstream(dir_ / "engines.yaml")
      << "engines:\n  remote:\n    backend: openai\n    endpoint: http://127.0.0.1:9/v1\n"
         "    model: m1\n";
  const Shell r = shell(kSkein + " engines " + (dir_ / "engines.yaml").string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("local"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("remote           openai"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("m1"), std::string::npos) << r.out;
  const Shell graph = shell(kSkein + " engines " + (dir_ / "g.yaml").string());  // a graph file has engines too
  EXPECT_EQ(graph.status, 0) << graph.out;
  EXPECT_NE(graph.out.find("local"), std::string::npos) << graph.out;
}

TEST_F(CliParityTest, WarmupStartsAnEngineAndReportsItsLoadTimeOrWhyItCannotStart) {
  const Shell ok = shell(kSkein + " warmup " + (dir_ / "g.yaml").string() + " local");
  ASSERT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("local            started in "), std::string::npos) << ok.out;
  std::ofstream(dir_ / "bad.yaml") << "engines:\n  broken:\n    backend: llama\n    model: "
                                   << (dir_ / "missing.gguf").string() << "\n";
  const Shell bad = shell(kSkein + " warmup " + (dir_ / "bad.yaml").string() + " broken");
  EXPECT_NE(bad.status, 0) << bad.out;
  EXPECT_NE(bad.out.find("missing.gguf"), std::string::npos) << bad.out;
  EXPECT_EQ(bad.out.find("started in"), std::string::npos) << bad.out;
}

using CliTest = test::RunFolderTest;

TEST_F(CliTest, RunAGraphOnceWithItsTraceOrOncePerLineIntoResults) {
  setenv("SKEIN_LOCAL_MODEL", test::model_path("local").c_str(), 1);
  std::ofstream(dir_ / "g.yaml") << kGraph;
  const Shell one = shell(kSkein + " run " + (dir_ / "g.yaml").string() + " --input '{\"text\": \"it crashes\"}'");
  ASSERT_EQ(one.status, 0) << one.out;
  EXPECT_NE(one.out.find("1. Ticket"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find("2. Classify"), std::string::npos) << one.out;
  EXPECT_TRUE(std::regex_search(one.out, std::regex(R"(2\. Classify +[0-9]+ ms, [1-9][0-9]* tok)"))) << one.out;
  EXPECT_NE(one.out.find("terminal: Classify"), std::string::npos) << one.out;
  std::ofstream(dir_ / "runs.jsonl") << "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n{\"text\": \"c\"}\n";
  const Shell many = shell(kSkein + " run " + (dir_ / "g.yaml").string() + " -i " + (dir_ / "runs.jsonl").string() +
                           " -o " + (dir_ / "out").string());
  EXPECT_EQ(many.status, 1) << many.out;  // one run had bad input
  std::map<int, Json> by_line;
  for (const auto& r : test::read_jsonl(dir_ / "out/results.jsonl")) by_line[r["line"].get<int>()] = r;
  ASSERT_EQ(by_line.size(), 3u);
  EXPECT_EQ(by_line[1]["status"], "done");
  EXPECT_EQ(by_line[1]["terminal"], "Classify");
  EXPECT_GT(by_line[1]["tokens"]["generated"].get<int>(), 0);
  EXPECT_EQ(by_line[2]["status"], "failed");
  EXPECT_NE(by_line[2]["error"].get<std::string>().find("lacks 'text'"), std::string::npos) << by_line[2].dump();
  EXPECT_EQ(by_line[3]["trace"][0]["fields"]["text"], "c");
}

TEST_F(CliTest, StdinTakesJsonLinesOrAJsonArray) {
  std::ofstream(dir_ / "c.yaml")
      << "chain: c\nsteps:\n  - apply: twice\n    fn: map\n    set: {n: \"chain_input.n * 2\"}\n";
  const std::string run = kSkein + " run " + (dir_ / "c.yaml").string() + " -i - --quiet -o ";
  Shell lines = shell("printf '{\"n\": 1}\\n{\"n\": 2}\\n' | " + run + (dir_ / "lines").string());
  ASSERT_EQ(lines.status, 0) << lines.out;
  Shell array = shell("printf '[{\"n\": 1},\\n {\"n\": 2}]' | " + run + (dir_ / "array").string());
  ASSERT_EQ(array.status, 0) << array.out;
  for (const char* out : {"lines", "array"}) {
    const auto twice = test::read_jsonl(dir_ / out / "twice/000.jsonl");
    ASSERT_EQ(twice.size(), 2u) << out;
    EXPECT_EQ(twice[1]["output"]["n"], 4) << out;
  }
}

}  // namespace
}  // namespace skein
