// `skein run GRAPH.yaml --input '{…}'` runs one graph and prints its trace with per-node times;
// `-i runs.jsonl -o out/` runs one graph per line, concurrently, into out/results.jsonl.
#include <fmt/format.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <mutex>

#include "commands.hpp"
#include "skein/broker.hpp"
#include "skein/graph_lm.hpp"
#include "skein/run_registry.hpp"

namespace skein::app {
namespace {

namespace asio = boost::asio;

// The runs' events the command acts on: gates to ask, runs that ended. Its queue is shared with
// the registry's listener, which may still run on the registry's loop after the Inbox is gone.
class Inbox {
 public:
  explicit Inbox(RunRegistry& registry) : q_(std::make_shared<Queue>()) {
    registry.subscribe([q = q_](const RunEvent& e) {
      if (e.kind != "gate_opened" && e.kind != "done" && e.kind != "failed" && e.kind != "cancelled") return;
      std::lock_guard l(q->mu);
      q->events.push_back(e);
      q->cv.notify_one();
    });
  }
  RunEvent next() {
    std::unique_lock l(q_->mu);
    q_->cv.wait(l, [&] { return !q_->events.empty(); });
    RunEvent e = std::move(q_->events.front());
    q_->events.pop_front();
    return e;
  }

 private:
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<RunEvent> events;
  };
  std::shared_ptr<Queue> q_;
};

// A gate asked on the terminal until the registry takes the answer (JSON, or else a string).
// False when stdin has ended before an answer.
bool ask_on_terminal(RunRegistry& registry, const std::string& gate_id) {
  for (const auto& g : registry.gates()) {
    if (g.id != gate_id) continue;
    for (;;) {
      std::cerr << fmt::format("gate {} ({}.{}): {} > ", g.id, g.node, g.field, g.question) << std::flush;
      std::string line;
      if (!std::getline(std::cin, line)) return false;
      Json value;
      try {
        value = Json::parse(line);
      } catch (const Json::exception&) {
        value = line;
      }
      try {
        registry.answer(g.id, std::move(value));
        return true;
      } catch (const Error& e) {
        std::cerr << e.what() << "\n";
      }
    }
  }
  return true;  // no longer open
}

// Each node with its time (routing, deps, model, gates) and the model's tokens.
void print_trace(const RunSnapshot& r) {
  for (size_t i = 0; i < r.trace.size(); ++i) {
    const auto& e = r.trace[i];
    std::string time = "input";
    if (i > 0 && i < r.nodes.size()) {
      const NodeTiming& t = r.nodes[i];
      time = fmt::format("{:.0f} ms", double(t.end_ns - t.start_ns) / 1e6);
      if (t.tokens.generated) time += fmt::format(", {} tok", t.tokens.generated);
    }
    std::cout << fmt::format("{:>2}. {:<20} {:>18}  {}\n", i + 1, e.type, time, e.fields.dump());
  }
  if (r.terminal)
    std::cout << fmt::format("terminal: {} ({} prompt + {} generated tokens)\n", r.terminal->type, r.tokens.prompt,
                             r.tokens.generated);
}

Json result_line(size_t line, const Json& input, const RunSnapshot* r, const std::string& error) {
  Json out{{"line", line}, {"input", input}, {"status", r && r->state == RunState::done ? "done" : "failed"}};
  if (r && r->state == RunState::done) {
    Json trace = Json::array();
    for (size_t i = 0; i < r->trace.size(); ++i) {
      Json entry{{"type", r->trace[i].type}, {"fields", r->trace[i].fields}};
      if (i < r->nodes.size()) entry["ms"] = double(r->nodes[i].end_ns - r->nodes[i].start_ns) / 1e6;
      trace.push_back(std::move(entry));
    }
    out["terminal"] = r->terminal ? r->terminal->type : "";
    out["trace"] = std::move(trace);
    out["tokens"] = {{"prompt", r->tokens.prompt}, {"generated", r->tokens.generated}};
  } else {
    out["error"] = r ? r->error : error;
  }
  return out;
}

// Serves the registry's events until `runs` runs have ended: gates are asked on the terminal, each
// ended run goes to `ended`. The number that did not end DONE.
size_t serve_until_done(RunRegistry& registry, Inbox& inbox, size_t runs,
                        const std::function<void(const RunSnapshot&)>& ended) {
  size_t failed = 0;
  for (size_t left = runs; left > 0;) {
    const RunEvent e = inbox.next();
    if (e.kind == "gate_opened") {
      if (!ask_on_terminal(registry, e.data.value("gate", ""))) {
        std::cerr << "no answer (stdin has ended): run " << e.run << " cancelled\n";
        registry.cancel(e.run);
      }
      continue;
    }
    --left;
    registry.wait_until(
        e.run, [](const RunSnapshot& s) { return is_finished(s.state); }, std::chrono::seconds(10));
    const RunSnapshot r = *registry.get(e.run);
    failed += r.state != RunState::done;
    ended(r);
  }
  return failed;
}

int run_many(const std::shared_ptr<const Graph>& g, const RunArgs& args, GraphJob base) {
  std::ifstream in(args.input);
  if (!in) {
    std::cerr << "skein: cannot read " << args.input << "\n";
    return 2;
  }
  const std::string dir = args.output.empty() ? "out/" + g->name : args.output;
  std::filesystem::create_directories(dir);
  std::ofstream results(std::filesystem::path(dir) / "results.jsonl", std::ios::trunc);
  RegistryOptions ro;
  ro.history = std::numeric_limits<size_t>::max();  // every run is kept until its line is written
  RunRegistry registry(ro);
  Inbox inbox(registry);
  std::map<std::string, std::pair<size_t, Json>> lines;  // run id -> line number, input
  size_t line_no = 0, bad = 0;
  std::string text;
  while (std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    GraphJob job = base;
    try {
      job.input = Json::parse(text);
    } catch (const Json::exception& e) {
      results << result_line(line_no, text, nullptr, std::string("not valid JSON: ") + e.what()).dump() << "\n";
      ++bad;
      continue;
    }
    const Json input = job.input;
    lines[registry.submit(std::move(job))] = {line_no, input};
  }
  const size_t failed = serve_until_done(registry, inbox, lines.size(), [&](const RunSnapshot& r) {
    const auto& [n, input] = lines.at(r.id);
    results << result_line(n, input, &r, "").dump() << "\n";
  });
  std::cerr << fmt::format("{} runs, {} failed\n", lines.size() + bad, failed + bad);
  std::cout << "outputs: " << dir << "\n";
  return failed + bad ? 1 : 0;
}

int run_one(const std::string& input, GraphJob job) {
  try {
    job.input = Json::parse(input);
  } catch (const Json::exception& e) {
    std::cerr << "skein: --input is not valid JSON: " << e.what() << "\n";
    return 2;
  }
  RunRegistry registry;
  Inbox inbox(registry);
  registry.submit(std::move(job));
  RunSnapshot run;
  serve_until_done(registry, inbox, 1, [&](const RunSnapshot& r) { run = r; });
  if (run.state == RunState::done) {
    print_trace(run);
    return 0;
  }
  std::cerr << "skein: " << run.error << "\n";
  std::cerr << "partial trace: " << run.trace.size() << " nodes\n";
  return run.error.find("graph run failed") == 0 ? 1 : 2;
}

}  // namespace

int graph_run_command(const RunArgs& args) {
  std::vector<GraphWarning> warnings;
  std::shared_ptr<Graph> g;
  try {
    g = std::make_shared<Graph>(load_graph(args.file, &warnings));
  } catch (const Error& e) {
    std::cerr << "skein: " << e.what() << "\n";
    return 2;
  }
  for (const auto& w : warnings) std::cerr << "warning: " << w.where.str() << ": " << w.message << "\n";
  if (!args.quiet)
    std::cerr << "note: engine `local` runs the random-weight fixture model unless SKEIN_LOCAL_MODEL points at a "
                 "real GGUF: its choices and values are valid but meaningless.\n";
  const std::unique_ptr<Broker> broker = make_broker(g->broker, args.limits);  // leased per model call
  declare_engines(*broker, g->engines);
  Sampling sampling;
  sampling.temperature = 0.7f;
  EngineLM lm(*broker, g->engine, sampling);
  GraphJob job;
  job.graph = g;
  job.lm = &lm;
  job.verbosity = Verbosity::quiet;
  const int code = args.input.empty() || args.input[0] != '{' ? run_many(g, args, std::move(job))
                                                              : run_one(args.input, std::move(job));
  broker->flush(true);
  return code;
}

}  // namespace skein::app
