// `skein run GRAPH.yaml --input '{…}'` runs one graph and prints its trace with per-node times;
// `-i runs.jsonl -o out/` runs one graph per line, concurrently, into out/results.jsonl.
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "skein/broker.hpp"
#include "skein/graph_lm.hpp"

namespace skein::app {
namespace {

namespace asio = boost::asio;

// Engines by name, each leased on first use for the rest of the command.
class Engines {
 public:
  explicit Engines(const Graph& g) {
    broker_.add(local_engine_config());
    for (const auto& [name, config] : g.engines) broker_.add(config);
  }
  ~Engines() {
    leases_.clear();
    broker_.flush(true);
  }
  Engine& get(const std::string& name) {
    auto it = leases_.find(name);
    if (it == leases_.end()) it = leases_.emplace(name, broker_.acquire(name)).first;
    return it->second.engine();
  }

 private:
  Broker broker_;
  std::map<std::string, Lease> leases_;
};

// Gates asked on the terminal, one after the other: each answer is JSON, or else taken as a string.
asio::awaitable<Json> ask_on_terminal(const NodeType& node, const std::vector<const Field*>& gates, const Json&) {
  Json answers = Json::object();
  for (const Field* f : gates) {
    std::cerr << "gate (" << node.name << "." << f->name << "): " << f->gate << " > " << std::flush;
    std::string line;
    std::getline(std::cin, line);
    try {
      answers[f->name] = Json::parse(line);
    } catch (const Json::parse_error&) {
      answers[f->name] = line;
    }
  }
  co_return answers;
}

// Each node after the start with its fill's time and tokens: fills are matched to the trace by
// node type in order (a fill of a node-typed dep, which is no trace entry, is passed over).
void print_trace(const Graph& g, const GraphResult& r, const std::vector<LMTiming>& timings) {
  size_t k = 0;
  for (size_t i = 0; i < r.trace.size(); ++i) {
    const auto& e = r.trace[i];
    std::string time = i == 0 ? "input" : "no model call";
    if (i > 0 && !model_fields(g.nodes.at(e.type)).empty()) {
      while (k < timings.size() && !(timings[k].call == "fill" && timings[k].node == e.type)) ++k;
      if (k < timings.size()) {
        const auto& t = timings[k++];
        time = fmt::format("{:.0f} ms, {} tok", double(t.end_ns - t.start_ns) / 1e6, t.tokens.generated);
      }
    }
    std::cout << fmt::format("{:>2}. {:<20} {:>18}  {}\n", i + 1, e.type, time, e.fields.dump());
  }
  std::cout << fmt::format("terminal: {} ({} prompt + {} generated tokens)\n", r.terminal.type, r.tokens.prompt,
                           r.tokens.generated);
}

Json result_line(size_t line, const Json& input, const GraphResult* r, const std::string& error) {
  Json out{{"line", line}, {"input", input}, {"status", r ? "done" : "failed"}};
  if (r) {
    Json trace = Json::array();
    for (const auto& e : r->trace) trace.push_back({{"type", e.type}, {"fields", e.fields}});
    out["terminal"] = r->terminal.type;
    out["trace"] = std::move(trace);
    out["tokens"] = {{"prompt", r->tokens.prompt}, {"generated", r->tokens.generated}};
  } else {
    out["error"] = error;
  }
  return out;
}

int run_many(const Graph& g, const RunArgs& args, GraphRunOptions base) {
  std::ifstream in(args.input);
  if (!in) {
    std::cerr << "skein: cannot read " << args.input << "\n";
    return 2;
  }
  const std::string dir = args.output.empty() ? "out/" + g.name : args.output;
  std::filesystem::create_directories(dir);
  std::ofstream results(std::filesystem::path(dir) / "results.jsonl", std::ios::trunc);
  asio::io_context io;
  asio::thread_pool pool(4);
  base.blocking = pool.get_executor();
  size_t line_no = 0, failed = 0;
  std::string text;
  while (std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json input;
    try {
      input = Json::parse(text);
    } catch (const Json::parse_error& e) {
      results << result_line(line_no, text, nullptr, std::string("not valid JSON: ") + e.what()).dump() << "\n";
      ++failed;
      continue;
    }
    asio::co_spawn(io, run_graph(g, input, base), [&, line_no, input](std::exception_ptr e, GraphResult r) {
      std::string error;
      if (e) try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          error = ex.what();
        }
      failed += bool(e);
      results << result_line(line_no, input, e ? nullptr : &r, error).dump() << "\n";
    });
  }
  io.run();
  pool.join();
  std::cerr << fmt::format("{} runs, {} failed\n", line_no, failed);
  std::cout << "outputs: " << dir << "\n";
  return failed ? 1 : 0;
}

}  // namespace

int graph_run_command(const RunArgs& args) {
  std::vector<GraphWarning> warnings;
  Graph g;
  try {
    g = load_graph(args.file, &warnings);
  } catch (const Error& e) {
    std::cerr << "skein: " << e.what() << "\n";
    return 2;
  }
  for (const auto& w : warnings) std::cerr << "warning: " << w.where.str() << ": " << w.message << "\n";
  if (!args.quiet)
    std::cerr << "note: engine `local` runs the random-weight fixture model unless SKEIN_LOCAL_MODEL points at a "
                 "real GGUF: its choices and values are valid but meaningless.\n";
  Engines engines(g);
  Sampling sampling;
  sampling.temperature = 0.7f;
  EngineLM lm([&](const std::string& name) -> Engine& { return engines.get(name); }, "local", sampling);
  TimingLM timed(lm);
  GraphRunOptions o;
  o.lm = &timed;
  o.answer_gates = ask_on_terminal;
  if (args.input.empty() || args.input[0] != '{') return run_many(g, args, std::move(o));
  try {
    const GraphResult r = run_graph_sync(g, Json::parse(args.input), std::move(o));
    print_trace(g, r, timed.timings());
    return 0;
  } catch (const GraphError& e) {
    std::cerr << "skein: " << e.what() << "\n";
    std::cerr << "partial trace: " << e.trace().size() << " nodes\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "skein: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace skein::app
