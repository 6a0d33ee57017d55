// Skein from outside its tree: a chain and a graph built in C++ and run on the built-in `local`
// engine (a random-weight fixture model: its texts are valid for their types but meaningless), and
// the cluster library linked (no database here: one that is not there is an unavailable Error).
//   consumer [work folder]   (default: a fresh folder under the system's temp folder)
#include <filesystem>
#include <fstream>
#include <iostream>

#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "skein/cluster.hpp"
#include "skein/graph.hpp"
#include "skein/graph_lm.hpp"
#include "skein/graph_run.hpp"

namespace fs = std::filesystem;
using namespace skein;

namespace {

// A map Apply measures each text; a Step titles it, its output constrained to the Title type.
Chain titles_chain() {
  Chain c;
  c.name = "titles";
  c.types.add("Title", Json{{"type", "object"},
                            {"properties", {{"title", {{"type", "string"}, {"maxLength", 40}}}}},
                            {"required", {"title"}}});
  Apply measure{"measure", ApplyKind::map};
  measure.set.push_back({"chars", std::make_shared<Expression>("chain_input.text | length")});
  Step name;
  name.id = "title";
  name.output = c.types.get("Title");
  name.user = std::make_shared<Template>("A title of at most 40 characters for: {{ chain_input.text }}");
  name.sampling.temperature = 0;
  name.sampling.max_tokens = 24;
  c.steps = {measure, name};
  return c;
}

// Question -> the model picks Answer or Escalate and fills its field.
Graph triage_graph() {
  Graph g;
  g.name = "triage";
  g.start = "Question";
  g.max_iters = 3;
  const TypePtr text = g.types.make("Text", Json{{"type", "string"}, {"maxLength", 60}});
  g.nodes["Question"] =
      NodeType{"Question", std::nullopt, std::nullopt, {plain_field("text", text)}, {"Answer", "Escalate"}, {}};
  g.nodes["Answer"] = NodeType{"Answer", "Answer the question", std::nullopt, {plain_field("reply", text)}, {}, {}};
  g.nodes["Escalate"] =
      NodeType{"Escalate", "Say why a human should answer", std::nullopt, {plain_field("reason", text)}, {}, {}};
  for (const auto& w : check_graph(g, true)) std::cerr << "warning: " << w.message << "\n";
  return g;
}

int run_chain_part(const fs::path& work) {
  const fs::path input = work / "in.jsonl";
  std::ofstream(input) << R"({"text": "the broker starts engines lazily"})"
                       << "\n"
                       << R"({"text": "chains run over datasets"})"
                       << "\n";
  RunOptions o;
  o.input_path = input.string();
  o.output_dir = (work / "out").string();
  const RunSummary s = run_chain(titles_chain(), o);
  std::cout << "chain: " << to_string(s.status) << ", " << s.records_in << " in, " << s.records_out << " out, "
            << s.errors << " errors, folder " << s.output_dir << "\n";
  return s.status == ChainStatus::done && s.records_out == 2 && s.errors == 0 ? 0 : 1;
}

int run_graph_part() {
  Broker broker;
  broker.add(local_engine_config());
  EngineLM lm(broker);  // leases `local` for each call alone
  GraphRunOptions o;
  o.lm = &lm;
  const GraphResult r = run_graph_sync(triage_graph(), Json{{"text", "can I export my data?"}}, std::move(o));
  for (const auto& e : r.trace) std::cout << "graph: " << e.type << " " << e.fields.dump() << "\n";
  return r.terminal.type == "Answer" || r.terminal.type == "Escalate" ? 0 : 1;
}

// Nothing listens on port 1: the queue's connection is refused at once.
int cluster_part() {
  try {
    ClusterQueue queue("postgresql://127.0.0.1:1/none?connect_timeout=2");
  } catch (const Error& e) {
    std::cout << "cluster: " << to_string(e.code()) << ": " << e.what() << "\n";
    return e.code() == ErrorCode::unavailable ? 0 : 1;
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const fs::path work = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path() / "skein-consumer";
    fs::remove_all(work);
    fs::create_directories(work);
    std::cerr << "note: `local` is a random-weight fixture model: the texts below are meaningless.\n";
    const int chain = run_chain_part(work);
    const int graph = run_graph_part();
    const int cluster = cluster_part();
    return chain || graph || cluster;
  } catch (const std::exception& e) {
    std::cerr << "consumer: " << e.what() << "\n";
    return 1;
  }
}
