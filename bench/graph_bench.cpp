// Graph benchmark (tables, not tests), with an LM that answers at once:
// - node transitions per second across many concurrent runs of a 10-node graph, all on one io
//   thread (goal >= 1,000,000/s), with a yield at every node (the default: the runs interleaved
//   node by node, each turn finding the run's memory out of the cache) and with a slice of 20 us
//   (a run yields once that has passed: an instant 10-node run ends within one, so runs go one
//   after another);
// - the overhead of one run of NeoGraph's shapes, one run at a time (median and p90 us per run):
//   seq (3 nodes: the caller's start node, two the model fills), par (fan-out 5 + join: a node fed
//   by 5 native deps computed concurrently), the 3 nodes computed by native deps (no model call),
//   seq through run_graph_sync, and seq submitted to a RunRegistry: one at a time (submit -> DONE),
//   in a steady stream (64 in flight, the registry's overhead per run: goal <= 5 us) and 20,000 at
//   once (every run queued on the loop before most start: memory the backlog touches shows);
// - the same two shapes as chains on an engine that answers at once, per record of one run over
//   --shape-runs records (each record's outputs and row written to the run folder): seq as 3
//   steps, par as a step, a parallel group of 5 one-step branches joined back, and a joining step.
//   graph_bench [--runs 10000] [--shape-runs 20000] [--only registry|transitions] [--rounds 9]
//               [--slice-ns N: the transitions row of that slice alone]
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>

#include "instant_chain.hpp"
#include "skein/engine.hpp"
#include "skein/graph_run.hpp"
#include "skein/run_registry.hpp"

using namespace skein;
namespace asio = boost::asio;

namespace {

// {"v": source's v + 1}, built key by key: a braced list costs nlohmann more than the run's own
// transition (a model's reply arrives parsed, not as a braced list).
Json next_value(const TraceEntry& source) {
  Json fields = empty_object();
  fields["v"] = source.fields.value("v", 0) + 1;
  return fields;
}

class InstantLM : public GraphLM {
 public:
  asio::awaitable<LMReply<std::string>> choose_type(const NodeType&, const std::vector<std::string>& types,
                                                    const Json&) override {
    co_return LMReply<std::string>{types.front(), {}};
  }
  asio::awaitable<LMReply<Json>> fill(const NodeType&, const Json&, const std::string&,
                                      const TraceEntry& source) override {
    co_return LMReply<Json>{next_value(source), {}};
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

// Median and p90 of `runs` calls of `once` (after a tenth as many unmeasured), in us.
struct PerRun {
  double median, p90;
};
template <typename Once>
PerRun per_run_us(int runs, Once once) {
  runs = std::max(runs, 10);
  for (int i = 0; i < runs / 10; ++i) once();
  std::vector<double> us;
  us.reserve(runs);
  for (int i = 0; i < runs; ++i) {
    const int64_t t0 = now_ns();
    once();
    us.push_back(double(now_ns() - t0) / 1e3);
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 9 / 10]};
}

const char* kSeq = R"(graph: seq
start: A
nodes:
  A: {fields: {v: {type: integer}}, next: [B]}
  B: {fields: {v: {type: integer}}, next: [C]}
  C: {fields: {v: {type: integer}}, next: [end]}
)";

const char* kPar = R"(graph: par
start: Fan
nodes:
  Fan: {fields: {v: {type: integer}}, next: [Join]}
  Join:
    fields:
      a: {type: integer, dep: w1}
      b: {type: integer, dep: w2}
      c: {type: integer, dep: w3}
      d: {type: integer, dep: w4}
      e: {type: integer, dep: w5}
    next: [end]
)";

const char* kNative = R"(graph: native
start: A
nodes:
  A: {fields: {a: {type: integer, dep: f1}}, next: [B]}
  B: {fields: {b: {type: integer, dep: f2}}, next: [C]}
  C: {fields: {c: {type: integer, dep: f3}}, next: [end]}
)";

Graph with_functions(const char* yaml, std::initializer_list<const char*> names) {
  Graph g = parse_graph(yaml, "shape.yaml");
  int n = 0;
  for (const char* name : names) g.functions[name] = [k = ++n](const Json&) { return Json(k); };
  return g;
}

// One run of `g` to its end on `io` (reused), checked.
void run_once(asio::io_context& io, const Graph& g, GraphLM& lm, const Json& input, size_t nodes) {
  GraphRunOptions o;
  o.lm = &lm;
  bool ok = false;
  asio::co_spawn(io, run_graph(g, input, std::move(o)),
                 [&](std::exception_ptr e, GraphResult r) { ok = !e && r.trace.size() == nodes; });
  io.run();
  io.restart();
  if (!ok) throw Error("a run of " + g.name + " failed");
}

// seq's chain with its middle step replaced by a parallel group of 5 one-step branches.
std::string par_chain() {
  std::string yaml = bench::kThreeSteps;
  std::string group = "  - parallel:\n";
  std::string joined;
  for (int i = 1; i <= 5; ++i) {
    group += fmt::format(
        "      - branch: w{0}\n        join: w{0}\n        steps:\n          - step: s{0}\n            output: A\n"
        "            user: \"{{{{ one.a }}}}\"\n",
        i);
    joined += fmt::format("{{{{ w{}.a }}}} ", i);
  }
  const size_t two = yaml.find("  - step: two");
  yaml.replace(two, yaml.find("  - step: three") - two, group);
  yaml.replace(yaml.find("{{ two.a }}"), 11, joined);
  return yaml;
}

// One chain run over `records` inputs on an instant engine: us per record.
double chain_us_per_record(const std::string& yaml, int records) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("skein_graph_bench_{}", ::getpid());
  fs::create_directories(dir);
  bench::write_input(dir / "in.jsonl", size_t(records));
  const auto [s, seconds] = bench::run_on_instant_engine(yaml, dir / "in.jsonl", dir / "out", 256);
  fs::remove_all(dir);
  if (s.records_out != size_t(records) || s.errors) throw Error("a chain run of the bench failed");
  return seconds * 1e6 / records;
}

void registry_rows(GraphLM& lm, int runs, const Graph& seq, double seq_us);

void shapes(GraphLM& lm, int runs) {
  const Graph seq = parse_graph(kSeq, "seq.yaml");
  const Graph par = with_functions(kPar, {"w1", "w2", "w3", "w4", "w5"});
  const Graph native = with_functions(kNative, {"f1", "f2", "f3"});
  const Json input{{"v", 0}};
  asio::io_context io(1);  // one thread runs it, as the registry's loop
  const PerRun s = per_run_us(runs, [&] { run_once(io, seq, lm, input, 3); });
  const PerRun p = per_run_us(runs, [&] { run_once(io, par, lm, input, 2); });
  const PerRun n = per_run_us(runs, [&] { run_once(io, native, lm, Json::object(), 3); });
  const PerRun sync = per_run_us(runs / 10, [&] {
    GraphRunOptions o;
    o.lm = &lm;
    if (run_graph_sync(seq, input, std::move(o)).trace.size() != 3) throw Error("a run_graph_sync failed");
  });
  // NeoGraph (commit 3f37a2c, its bench_neograph.cpp, median us per run) as measured on this
  // machine when issue 17 was filed: not rebuilt here.
  fmt::print("\n| shape, one run at a time ({} runs) | median us | p90 us | goal | NeoGraph (issue 17) |\n", runs);
  fmt::print("|---|---:|---:|---:|---:|\n");
  fmt::print("| seq: 3 nodes, instant LM, run_graph | {:.2f} | {:.2f} | <= 5 | 6.32 |\n", s.median, s.p90);
  fmt::print("| par: fan-out 5 native deps + join | {:.2f} | {:.2f} | <= 12 | 18.3 |\n", p.median, p.p90);
  fmt::print("| 3 nodes computed by native deps | {:.2f} | {:.2f} | <= 3 | |\n", n.median, n.p90);
  fmt::print("| seq through run_graph_sync ({} runs) | {:.2f} | {:.2f} | <= 10 | |\n", runs / 10, sync.median,
             sync.p90);
  registry_rows(lm, runs, seq, s.median);
  fmt::print("| seq as a 3-step chain, instant engine, per record of a {}-record run | {:.2f} | | | |\n", runs,
             chain_us_per_record(bench::kThreeSteps, runs));
  fmt::print(
      "| par as a chain: a step, a parallel group of 5 one-step branches, a joining step; per record of a "
      "{}-record run | {:.2f} | | | |\n",
      runs, chain_us_per_record(par_chain(), runs));
}

// The rows of seq through a RunRegistry, and the registry's overhead over seq's `seq_us`.
void registry_rows(GraphLM& lm, int runs, const Graph& seq, double seq_us) {
  const Json input{{"v", 0}};
  RunRegistry registry;
  const auto shared_seq = std::make_shared<const Graph>(seq);
  auto submit = [&](Verbosity verbosity) {
    GraphJob job;
    job.graph = shared_seq;
    job.input = input;
    job.lm = &lm;
    job.verbosity = verbosity;
    return registry.submit(std::move(job));
  };
  auto wait_done = [&](const std::string& id) {
    registry.wait_until(
        id, [](const RunSnapshot& r) { return is_finished(r.state); }, std::chrono::seconds(60));
    if (registry.get(id)->state != RunState::done) throw Error("a registry run failed");
  };
  const PerRun reg = per_run_us(runs / 10, [&] { wait_done(submit(Verbosity::quiet)); });
  // The registry's cost per run in a steady stream: `runs` runs of the default verbosity, the next
  // submitted as soon as fewer than kInFlight are under way (a listener counts their ends).
  constexpr int kInFlight = 64;
  std::atomic<int> ended = 0;
  registry.subscribe([&](const RunEvent& e) {
    if (e.kind == RunEventKind::done || e.kind == RunEventKind::failed || e.kind == RunEventKind::cancelled) ++ended;
  });
  auto stream = [&] {
    const int64_t t0 = now_ns();
    for (int i = 0; i < runs; ++i) {
      while (i - ended.load() >= kInFlight) std::this_thread::yield();
      submit(Verbosity::normal);
    }
    while (ended.load() < runs) std::this_thread::yield();
    return double(now_ns() - t0) / 1e3 / runs;
  };
  stream();  // warm-up: the allocator's pages and caches as a running host has them
  ended = 0;
  const double stream_each = stream();
  // The same runs submitted at once (quiet): every one queued on the loop before most start.
  const int64_t t0 = now_ns();
  std::string last;
  for (int i = 0; i < runs; ++i) last = submit(Verbosity::quiet);
  wait_done(last);
  const double burst_each = double(now_ns() - t0) / 1e3 / runs;
  fmt::print("| seq through a RunRegistry, submit -> DONE, one at a time ({} runs) | {:.2f} | {:.2f} | | |\n",
             runs / 10, reg.median, reg.p90);
  fmt::print("| seq through a RunRegistry, {} runs, {} in flight, per run | {:.2f} | | | |\n", runs, kInFlight,
             stream_each);
  fmt::print("| the registry's overhead per run (the row above - seq's) | {:.2f} | | <= 5 | |\n", stream_each - seq_us);
  fmt::print("| seq through a RunRegistry, {} runs submitted at once (quiet), per run | {:.2f} | | | |\n", runs,
             burst_each);
  fmt::print("| the registry's overhead per run submitted at once (the row above - seq's) | {:.2f} | | | |\n",
             burst_each - seq_us);
}

}  // namespace

// One round: `runs` concurrent runs to their end, each yielding once per `slice`; transitions per second.
double round(const Graph& g, GraphLM& lm, int runs, std::chrono::nanoseconds slice) {
  asio::io_context io(1);  // one thread runs it, as the registry's loop
  asio::thread_pool pool(1);
  size_t transitions = 0, failed = 0;
  const int64_t t0 = now_ns();
  for (int i = 0; i < runs; ++i) {
    GraphRunOptions o;
    o.lm = &lm;
    o.blocking = pool.get_executor();
    o.slice = slice;
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
  int runs = 10000, shape_runs = 20000, rounds = 9;
  std::string only;
  std::optional<std::chrono::nanoseconds> one_slice;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--runs") runs = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--shape-runs") shape_runs = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--only") only = argv[i + 1];
    if (std::string(argv[i]) == "--rounds") rounds = std::max(1, std::stoi(argv[i + 1]));
    if (std::string(argv[i]) == "--slice-ns") one_slice = std::chrono::nanoseconds(std::stoll(argv[i + 1]));
  }
  InstantLM lm;
  if (!only.empty() && only != "registry" && only != "transitions") {
    fmt::print(stderr, "graph_bench: --only takes `registry` or `transitions`, not `{}`\n", only);
    return 2;
  }
  fmt::print("allocator: {}\n", SKEIN_ALLOCATOR);
  if (only == "registry") {  // its rows alone (for a profile), against seq measured here
    const Graph seq = parse_graph(kSeq, "seq.yaml");
    asio::io_context io(1);
    const PerRun s = per_run_us(shape_runs, [&] { run_once(io, seq, lm, Json{{"v", 0}}, 3); });
    fmt::print("| measure | median us | p90 us | goal | |\n|---|---:|---:|---:|---:|\n");
    registry_rows(lm, shape_runs, seq, s.median);
    return 0;
  }
  const Graph g = parse_graph(ten_nodes(), "ten.yaml");
  fmt::print(
      "| concurrent runs | nodes per run | a run yields | rounds | worst /s | median /s | best /s | goal /s |\n");
  fmt::print("|---:|---:|---|---:|---:|---:|---:|---:|\n");
  const GraphRunOptions defaults;
  std::vector<std::chrono::nanoseconds> slices{defaults.slice, std::chrono::microseconds(20)};
  if (one_slice) slices = {*one_slice};
  for (const auto slice : slices) {
    std::vector<double> rates;
    for (int rep = 0; rep < rounds; ++rep) rates.push_back(round(g, lm, runs, slice));
    std::sort(rates.begin(), rates.end());
    std::string yields = slice.count() ? fmt::format("once per {} ns", slice.count()) : "at every node";
    if (slice == defaults.slice) yields += " (the default)";
    fmt::print("| {} | 10 | {} | {} | {:.0f} | {:.0f} | {:.0f} | 1,000,000 |\n", runs, yields, rates.size(),
               rates.front(), rates[rates.size() / 2], rates.back());
  }
  if (only.empty()) shapes(lm, shape_runs);
}
