// Apply nodes: filter, map, explode and registered native functions keep records and histories
// together, give fan-out records stable ids, and turn failures into error records.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "run_folder.hpp"
#include "skein/chain.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

const char* kChain = R"(chain: pure
steps:
  - apply: parts
    fn: explode
    field: chain_input.products
  - apply: big
    fn: filter
    where: parts.size >= 10
  - apply: shaped
    fn: map
    set: {name: "parts.name | upper", size: parts.size, order: row_id}
)";

using test::read_jsonl;
using ApplyTest = test::RunFolderTest;

TEST_F(ApplyTest, ExplodeFilterMapKeepRecordsAndHistoriesTogether) {
  Chain chain = parse_chain(kChain, (dir_ / "c.yaml").string());
  RunSummary s = run(chain, R"({"products": [{"name": "a", "size": 3}, {"name": "b", "size": 12}]}
{"products": []}
{"products": [{"name": "c", "size": 40}]}
)");
  EXPECT_EQ(s.nodes["parts"].out, 3u);
  EXPECT_EQ(s.nodes["big"].out, 2u);
  const auto shaped = read_jsonl(dir_ / "out/shaped/000.jsonl");
  ASSERT_EQ(shaped.size(), 2u);
  EXPECT_EQ(shaped[0]["id"], "0.1");
  EXPECT_EQ(shaped[0]["output"], Json::parse(R"({"name": "B", "size": 12, "order": 0})"));
  EXPECT_EQ(shaped[1]["id"], "2.0");
  EXPECT_EQ(shaped[1]["output"], Json::parse(R"({"name": "C", "size": 40, "order": 2})"));
  EXPECT_EQ(s.errors, 0u);
  // One flattened row per final record, history as node.field columns, in input order.
  const auto flat = read_jsonl(dir_ / "out/flattened/000.jsonl");
  ASSERT_EQ(flat.size(), 2u);
  EXPECT_EQ(flat[0]["id"], "0.1");
  EXPECT_EQ(flat[0]["parts.name"], "b");
  EXPECT_EQ(flat[0]["big"], true);
  EXPECT_EQ(flat[0]["shaped.size"], 12);
  EXPECT_TRUE(flat[0]["chain_input.products"].is_array());
  std::ifstream graph_in(dir_ / "out/graph.json");
  const Json graph = Json::parse(graph_in);
  EXPECT_EQ(graph["nodes"].size(), 3u);
  EXPECT_EQ(graph["edges"], Json::parse(R"([["input","parts"],["parts","big"],["big","shaped"],["shaped","output"]])"));
}

TEST_F(ApplyTest, ExplodeOfANonListIsAnErrorRecordAndOthersGoOn) {
  Chain chain = parse_chain(kChain, (dir_ / "c.yaml").string());
  RunSummary s = run(chain, "{\"products\": 5}\n{\"products\": [{\"name\": \"z\", \"size\": 99}]}\n");
  const auto errors = read_jsonl(dir_ / "out/errors.jsonl");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["node"], "parts");
  EXPECT_EQ(errors[0]["row_id"], 0);
  EXPECT_NE(errors[0]["reason"].get<std::string>().find("not a list"), std::string::npos) << errors[0].dump();
  EXPECT_EQ(read_jsonl(dir_ / "out/shaped/000.jsonl").size(), 1u);
}

// A chain that ends in built-ins runs them record by record (apply_stream.hpp); its folder holds what
// the node-by-node run wrote (these files are that run's, before the change): each node's lines and
// the rows in record order, nested fan-out ids, and a batch's errors grouped node by node.
TEST_F(ApplyTest, TrailingBuiltInsWriteWhatANodeByNodeRunWroteWithErrorsGroupedByNode) {
  const Chain chain = parse(R"(chain: nested
steps:
  - apply: item
    fn: explode
    field: chain_input.items
  - apply: part
    fn: explode
    field: item.parts
  - apply: kept
    fn: filter
    where: part != "x"
  - apply: shaped
    fn: map
    set: {label: "part | upper", n: item.n}
)");
  const RunSummary s = run(chain, R"({"items": [{"parts": 7}, {"parts": ["a", "x", "b"]}]}
{"items": [{"parts": "no"}, {"n": 1, "parts": ["c"]}]}
not json
{"items": []}
{"items": [{"n": 2, "parts": ["x", "d"]}, {"n": 3, "parts": []}]}
{"items": 5}
)",
                           2);
  std::map<std::string, std::string> files = test::artefacts(dir_ / "out");
  EXPECT_EQ(files["item/000.jsonl"], R"({"row_id":0,"id":"0.0","output":{"parts":7}}
{"row_id":0,"id":"0.1","output":{"parts":["a","x","b"]}}
{"row_id":1,"id":"1.0","output":{"parts":"no"}}
{"row_id":1,"id":"1.1","output":{"n":1,"parts":["c"]}}
{"row_id":4,"id":"4.0","output":{"n":2,"parts":["x","d"]}}
{"row_id":4,"id":"4.1","output":{"n":3,"parts":[]}}
)");
  EXPECT_EQ(files["part/000.jsonl"], R"({"row_id":0,"id":"0.1.0","output":"a"}
{"row_id":0,"id":"0.1.1","output":"x"}
{"row_id":0,"id":"0.1.2","output":"b"}
{"row_id":1,"id":"1.1.0","output":"c"}
{"row_id":4,"id":"4.0.0","output":"x"}
{"row_id":4,"id":"4.0.1","output":"d"}
)");
  EXPECT_EQ(files["kept/000.jsonl"], R"({"row_id":0,"id":"0.1.0","output":true}
{"row_id":0,"id":"0.1.2","output":true}
{"row_id":1,"id":"1.1.0","output":true}
{"row_id":4,"id":"4.0.1","output":true}
)");
  EXPECT_EQ(files["shaped/000.jsonl"], R"({"row_id":1,"id":"1.1.0","output":{"label":"C","n":1}}
{"row_id":4,"id":"4.0.1","output":{"label":"D","n":2}}
)");
  EXPECT_EQ(
      files["flattened/000.jsonl"],
      R"({"row_id":1,"id":"1.1.0","chain_input.items":[{"parts":"no"},{"n":1,"parts":["c"]}],"item.n":1,"item.parts":["c"],"part":"c","kept":true,"shaped.label":"C","shaped.n":1}
{"row_id":4,"id":"4.0.1","chain_input.items":[{"n":2,"parts":["x","d"]},{"n":3,"parts":[]}],"item.n":2,"item.parts":["x","d"],"part":"d","kept":true,"shaped.label":"D","shaped.n":2}
)");
  // The first batch's errors node by node (record by record they came part, shaped, shaped, part);
  // the second batch's bad line after them, then the third's error at the first node.
  std::vector<std::pair<long long, std::string>> errors;
  for (const Json& e : read_jsonl(dir_ / "out/errors.jsonl")) errors.emplace_back(e["row_id"], e["node"]);
  const std::vector<std::pair<long long, std::string>> expected = {{0, "part"},   {1, "part"},  {0, "shaped"},
                                                                   {0, "shaped"}, {2, "input"}, {5, "item"}};
  EXPECT_EQ(errors, expected);
  EXPECT_EQ(s.records_out, 2u);
  EXPECT_EQ(s.errors, 6u);
  EXPECT_EQ(s.nodes.at("item").in, 5u);
  EXPECT_EQ(s.nodes.at("item").errors, 1u);
  EXPECT_EQ(s.nodes.at("part").in, 6u);
  EXPECT_EQ(s.nodes.at("part").out, 6u);
  EXPECT_EQ(s.nodes.at("part").errors, 2u);
  EXPECT_EQ(s.nodes.at("shaped").in, 4u);
  EXPECT_EQ(s.nodes.at("shaped").errors, 2u);
}

// A trailing node may take the name of an earlier branch's `join:`: its output replaces the joined
// value where it stands, for the nodes after it and in the row, as history[id] = output did.
TEST_F(ApplyTest, ATrailingNodeNamedAfterAJoinReplacesTheJoinedValueInPlace) {
  const RunSummary s = run(R"(chain: clash
steps:
  - branch: side
    join: x
    steps:
      - apply: inner
        fn: map
        set: {v: chain_input.n}
  - apply: x
    fn: map
    set: {w: chain_input.n}
  - apply: y
    fn: filter
    where: x.w != 2
)",
                           "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n");
  std::map<std::string, std::string> files = test::artefacts(dir_ / "out");
  EXPECT_EQ(files["errors.jsonl"], "");
  EXPECT_EQ(files["y/000.jsonl"], R"({"row_id":0,"id":"0","output":true}
{"row_id":2,"id":"2","output":true}
)");
  EXPECT_EQ(files["flattened/000.jsonl"], R"({"row_id":0,"id":"0","chain_input.n":1,"x.w":1,"y":true}
{"row_id":2,"id":"2","chain_input.n":3,"x.w":3,"y":true}
)");
  EXPECT_EQ(s.records_out, 2u);
}

TEST_F(ApplyTest, RegisteredNativeFunctionFansOut) {
  Chain chain =
      parse_chain("chain: native\nsteps:\n  - apply: words\n    fn: split_words\n", (dir_ / "c.yaml").string());
  chain.functions["split_words"] = [](const Json& history) {
    std::vector<Json> out;
    std::istringstream in(history["chain_input"]["text"].get<std::string>());
    for (std::string w; in >> w;) out.push_back(w);
    return out;
  };
  RunSummary s = run(chain, "{\"text\": \"to be or\"}\n");
  const auto words = read_jsonl(dir_ / "out/words/000.jsonl");
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words[2]["id"], "0.2");
  EXPECT_EQ(words[2]["output"], "or");
}

// A stop requested while a native function runs on the blocking pool: the function finishes, the
// run ends cancelled (a cancellation passed on to the pool's task would throw out of it there, on
// Boost 1.81, and end the process).
TEST_F(ApplyTest, AStopWhileANativeFunctionRunsEndsTheRunCancelled) {
  Chain chain = parse_chain("chain: native\nsteps:\n  - apply: slow\n    fn: slow\n", (dir_ / "c.yaml").string());
  ChainStop stop;
  std::atomic<int> calls{0};
  chain.functions["slow"] = [&](const Json& history) {
    if (calls++ == 0) {
      stop.request();                                              // the run's loop sees it while this still runs
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // (on the pool: the loop goes on)
    }
    return std::vector<Json>{history["chain_input"]};
  };
  std::ofstream(dir_ / "in.jsonl") << "{\"a\": 1}\n{\"a\": 2}\n";
  RunOptions o;
  o.input_path = (dir_ / "in.jsonl").string();
  o.output_dir = (dir_ / "out").string();
  o.batch_size = 1;
  o.stop = &stop;
  const RunSummary s = run_chain(chain, o);
  EXPECT_EQ(s.status, ChainStatus::cancelled);
  EXPECT_EQ(calls.load(), 1);  // the second batch never started
}

TEST_F(ApplyTest, NativeFunctionThatThrowsGivesAnErrorRecord) {
  Chain chain =
      parse_chain("chain: native\nsteps:\n  - apply: boom\n    fn: explode_badly\n", (dir_ / "c.yaml").string());
  chain.functions["explode_badly"] = [](const Json&) -> std::vector<Json> { throw std::runtime_error("bad row"); };
  RunSummary s = run(chain, "{\"a\": 1}\n");
  EXPECT_EQ(s.errors, 1u);
  EXPECT_NE(read_jsonl(dir_ / "out/errors.jsonl").at(0)["reason"].get<std::string>().find("bad row"),
            std::string::npos);
}

TEST_F(ApplyTest, UnregisteredFunctionIsRefusedBeforeRunningWithItsLine) {
  Chain chain = parse_chain("chain: native\nsteps:\n  - apply: x\n    fn: nowhere\n", (dir_ / "c.yaml").string());
  try {
    run(chain, "{}\n");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("c.yaml:3: apply 'x': no function named 'nowhere'"), std::string::npos)
        << e.what();
  }
}

TEST_F(ApplyTest, ExecSpeaksJsonLinesInTheChainFilesFolder) {
  // Echoes each history back as the one record, drops lines that mention "skip", and reports its
  // working directory in the second record.
  Chain chain = parse_chain(
      "chain: exec\nsteps:\n  - apply: tool\n    fn: exec\n    command: [sh, -c, 'while IFS= read -r l; do case "
      "\"$l\" in *skip*) echo \"[]\";; *) printf \"[%s, \\\"%s\\\"]\\\\n\" \"$l\" \"$(pwd)\";; esac; done']\n",
      (dir_ / "c.yaml").string());
  RunSummary s = run(chain, "{\"a\": 1}\n{\"a\": \"skip me\"}\n{\"a\": 3}\n");
  const auto out = read_jsonl(dir_ / "out/tool/000.jsonl");
  ASSERT_EQ(out.size(), 4u) << s.errors;
  EXPECT_EQ(out[0]["id"], "0.0");
  EXPECT_EQ(out[0]["output"]["chain_input"]["a"], 1);
  EXPECT_EQ(out[1]["id"], "0.1");
  EXPECT_EQ(fs::path(out[1]["output"].get<std::string>()), dir_);
  EXPECT_EQ(out[2]["id"], "2.0");
  EXPECT_EQ(s.errors, 0u);
}

TEST_F(ApplyTest, ExecThatDiesOrAnswersBadlyGivesErrorRecords) {
  Chain dies = parse_chain("chain: e\nsteps:\n  - apply: t\n    fn: exec\n    command: 'echo oops >&2; exit 1'\n",
                           (dir_ / "c.yaml").string());
  RunSummary s = run(dies, "{\"a\": 1}\n{\"a\": 2}\n");
  EXPECT_EQ(s.errors, 2u);
  const auto errors = read_jsonl(dir_ / "out/errors.jsonl");
  EXPECT_NE(errors.at(0)["reason"].get<std::string>().find("oops"), std::string::npos) << errors.at(0).dump();
  Chain bad =
      parse_chain("chain: e\nsteps:\n  - apply: t\n    fn: exec\n    command: 'while read l; do echo 42; done'\n",
                  (dir_ / "c.yaml").string());
  RunSummary s2 = run(bad, "{\"a\": 1}\n");
  EXPECT_EQ(s2.errors, 1u);
  EXPECT_NE(read_jsonl(dir_ / "out/errors.jsonl").at(0)["reason"].get<std::string>().find("JSON array"),
            std::string::npos);
}

TEST(ApplyFileTest, ExpressionsAreCheckedAgainstTheHistoryAtLoad) {
  try {
    parse_chain("chain: c\nsteps:\n  - apply: f\n    fn: filter\n    where: verdict.ok\n", "c.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("c.yaml:5: `where` reads 'verdict'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_chain("chain: c\nsteps:\n  - apply: f\n    fn: filter\n", "c.yaml"), ConfigError);
  EXPECT_THROW(parse_chain("chain: c\nsteps:\n  - apply: f\n    fn: map\n    where: row_id\n", "c.yaml"), ConfigError);
}

TEST(ExpressionTest, ValuesAndTruthiness) {
  const Json h = Json::parse(R"({"v": {"c": 0.7, "tags": ["a", "b"]}, "s": "abc"})");
  EXPECT_EQ(Expression("v.c >= 0.5").value(h), true);
  EXPECT_EQ(Expression("s | length").value(h), 3);
  EXPECT_EQ(Expression("v.tags").value(h), Json::parse(R"(["a", "b"])"));
  EXPECT_TRUE(Expression("v.tags").truthy(h));
  EXPECT_FALSE(Expression("v.c > 1").truthy(h));
  EXPECT_THROW(Expression("v.missing").value(h), TemplateError);
}

}  // namespace
}  // namespace skein
