// Graph benchmark (a table, not a test): node transitions per second across many concurrent runs
// of a 10-node graph with an LM that answers instantly (goal >= 500,000/s), all on one io thread.
//   graph_bench [--runs 10000]
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "skein/engine.hpp"
#include "skein/graph_run.hpp"

using namespace skein;
namespace asio = boost::asio;

namespace {

class InstantLM : public GraphLM {
 public:
  asio::awaitable<LMReply<std::string>> choose_type(const NodeType&, const std::vector<std::string>& types,
                                                    const Json&) override {
    co_return LMReply<std::string>{types.front(), {}};
  }
  asio::awaitable<LMReply<Json>> fill(const NodeType&, const Json&, const std::string&,
                                      const TraceEntry& source) override {
    co_return LMReply<Json>{Json{{"v", source.fields.value("v", 0) + 1}}, {}};
  }
};

std::string ten_nodes() {
  std::string yaml = "graph: ten\nstart: N0\nmax_iters: 0\nnodes:\n";
  for (int i = 0; i < 10; ++i) {
    yaml += fmt::format("  N{}:\n    fields: {{v: {{type: integer}}}}\n", i);
    // Two successors from every other node, so half the transitions go through choose_type.
    if (i < 9) yaml += i % 2 ? fmt::format("    next: [N{}, end]\n", i + 1) : fmt::format("    next: [N{}]\n", i + 1);
  }
  return yaml;
}

}  // namespace

// One round: `runs` concurrent runs to their end; transitions per second.
double round(const Graph& g, GraphLM& lm, int runs) {
  asio::io_context io;
  asio::thread_pool pool(1);
  size_t transitions = 0, failed = 0;
  const int64_t t0 = now_ns();
  for (int i = 0; i < runs; ++i) {
    GraphRunOptions o;
    o.lm = &lm;
    o.blocking = pool.get_executor();
    asio::co_spawn(io, run_graph(g, Json{{"v", 0}}, std::move(o)), [&](std::exception_ptr e, GraphResult r) {
      if (e)
        ++failed;
      else
        transitions += r.trace.size();
    });
  }
  io.run();
  const double secs = double(now_ns() - t0) / 1e9;
  pool.join();
  if (failed || transitions != size_t(runs) * 10) throw Error(fmt::format("{} runs failed", failed));
  return double(transitions) / secs;
}

int main(int argc, char** argv) {
  int runs = 10000;
  if (argc == 3 && std::string(argv[1]) == "--runs") runs = std::stoi(argv[2]);
  const Graph g = parse_graph(ten_nodes(), "ten.yaml");
  InstantLM lm;
  std::vector<double> rates;
  for (int rep = 0; rep < 9; ++rep) rates.push_back(round(g, lm, runs));
  std::sort(rates.begin(), rates.end());
  fmt::print("allocator: {}\n", SKEIN_ALLOCATOR);
  fmt::print("| concurrent runs | nodes per run | rounds | worst /s | median /s | best /s | goal /s |\n");
  fmt::print("|---:|---:|---:|---:|---:|---:|---:|\n");
  fmt::print("| {} | 10 | {} | {:.0f} | {:.0f} | {:.0f} | 500,000 |\n", runs, rates.size(), rates.front(),
             rates[rates.size() / 2], rates.back());
}
