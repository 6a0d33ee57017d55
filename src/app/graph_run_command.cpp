// `skein run GRAPH.yaml --input '{…}'` runs one graph and prints its trace with per-node times;
// `-i runs.jsonl -o out/` runs one graph per line, concurrently, into out/results.jsonl, with
// progress and a summary (--quiet, --json-logs, NO_COLOR as for chains); `--resume` keeps the
// results an interrupted invocation of the same graph file over the same lines wrote (out/run.json
// says what it was) and runs the other lines. Chain-only flags are refused.
#include <fmt/format.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "commands.hpp"
#include "run_view.hpp"
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
      if (e.kind != RunEventKind::gate_opened && !is_final(e.kind)) return;
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

// A gate asked on the terminal until the registry takes the answer (JSON, or else a string) read
// from `answers`. False when they have ended before an answer.
bool ask_on_terminal(RunRegistry& registry, const std::string& gate_id, std::istream& answers) {
  for (const auto& g : registry.gates()) {
    if (g.id != gate_id) continue;
    for (;;) {
      std::cerr << fmt::format("gate {} ({}.{}): {} > ", g.id, g.node, g.field, g.question) << std::flush;
      std::string line;
      if (!std::getline(answers, line)) return false;
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
// ended run goes to `ended`.
void serve_until_done(RunRegistry& registry, Inbox& inbox, size_t runs, std::istream& answers,
                      const std::function<void(const RunSnapshot&)>& ended) {
  for (size_t left = runs; left > 0;) {
    const RunEvent e = inbox.next();
    if (e.kind == RunEventKind::gate_opened) {
      if (!ask_on_terminal(registry, e.data.value("gate", ""), answers)) {
        std::cerr << "no answer (the answers' input has ended): run " << e.run << " cancelled\n";
        registry.cancel(e.run);
      }
      continue;
    }
    --left;
    registry.wait_until(
        e.run, [](const RunSnapshot& s) { return is_finished(s.state); }, std::chrono::seconds(10));
    ended(*registry.get(e.run));
  }
}

// The results an interrupted (or finished) invocation wrote to `file`, for --resume: each kept
// line's input as that result holds it, and the size of the file's whole results (a last line
// cut by a kill, or anything unreadable from there on, is not kept).
struct KeptResults {
  std::map<size_t, Json> inputs;  // line number -> its input
  uintmax_t whole = 0;
  size_t failed = 0;
  long long prompt_tokens = 0, generated_tokens = 0;
};

KeptResults read_results(const std::filesystem::path& file) {
  KeptResults k;
  std::ifstream in(file, std::ios::binary);
  for (std::string text; std::getline(in, text) && !in.eof(); k.whole += text.size() + 1) {
    try {
      const Json r = Json::parse(text);
      const size_t line = r.at("line").get<size_t>();
      const bool failed = r.at("status").get<std::string>() != "done";
      const Json tokens = r.value("tokens", Json::object());
      const long long prompt = tokens.value("prompt", 0LL), generated = tokens.value("generated", 0LL);
      if (!k.inputs.emplace(line, r.at("input")).second) break;
      k.failed += failed, k.prompt_tokens += prompt, k.generated_tokens += generated;
    } catch (const Json::exception&) {
      break;
    }
  }
  return k;
}

// What a folder of runs was made from (run.json): --resume continues only the same graph file
// over the same input.
Json runs_folder_json(const Graph& g, const RunArgs& args) {
  return {{"graph", g.name}, {"file", g.file}, {"file_sha256", g.file_sha256}, {"input", args.input}};
}

// Whether `input`, as a result holds it, is that of input line `text` (a result for a line that is
// not JSON holds its text).
bool is_input_of(const std::string& text, const Json& input) {
  try {
    return Json::parse(text) == input;
  } catch (const Json::exception&) {
    return Json(text) == input;
  }
}

// Why the results in `dir` cannot be continued with this graph and these lines; "" when they can.
std::string resume_refusal(const std::filesystem::path& dir, const Json& made_from, const KeptResults& kept,
                           const std::vector<std::string>& lines) {
  const std::string again = ": run without --resume into a new folder";
  Json saved;
  try {
    saved = Json::parse(std::ifstream(dir / "run.json"));
  } catch (const Json::exception&) {
    return kept.inputs.empty() ? "" : "cannot resume " + dir.string() + ": its run.json is missing or unreadable";
  }
  if (saved.value("file_sha256", "") != made_from["file_sha256"] || saved.value("graph", "") != made_from["graph"])
    return "cannot resume " + dir.string() + ": the graph file changed since those runs" + again;
  for (const auto& [n, input] : kept.inputs) {
    if (n < 1 || n > lines.size() || !is_input_of(lines[n - 1], input))
      return "cannot resume " + dir.string() + ": the result of line " + std::to_string(n) +
             " was for another input than line " + std::to_string(n) + " of " + made_from["input"].get<std::string>() +
             again;
  }
  return "";
}

// Makes `dir` ready for the runs: with --resume, the earlier results checked against this graph
// and these lines and cut back to the whole ones; run.json says what the runs are made from. The
// reason it cannot, or "".
std::string prepare_folder(const std::filesystem::path& dir, const Json& made_from, const RunArgs& args,
                           const KeptResults& kept, const std::vector<std::string>& lines) {
  if (args.resume)
    if (std::string why = resume_refusal(dir, made_from, kept, lines); !why.empty()) return why;
  try {
    std::filesystem::create_directories(dir);
    if (args.resume && std::filesystem::exists(dir / "results.jsonl"))
      std::filesystem::resize_file(dir / "results.jsonl", kept.whole);
  } catch (const std::filesystem::filesystem_error& e) {
    return e.what();
  }
  std::ofstream(dir / "run.json", std::ios::trunc) << made_from.dump(2) << "\n";
  return "";
}

std::vector<std::string> read_lines(std::istream& in) {
  std::vector<std::string> lines;
  for (std::string text; std::getline(in, text);) lines.push_back(std::move(text));
  return lines;
}

int run_many(const std::shared_ptr<const Graph>& g, const RunArgs& args, GraphJob base, RunView& view) {
  std::ifstream file;
  if (args.input != "-") file.open(args.input);
  if (args.input != "-" && (!file || !std::filesystem::is_regular_file(args.input))) {
    view.error("cannot read " + args.input);
    return 2;
  }
  const std::vector<std::string> input = read_lines(args.input == "-" ? std::cin : file);
  // With the runs on stdin, gates are answered from the terminal.
  std::ifstream tty;
  if (args.input == "-") tty.open("/dev/tty");
  std::istream& answers = tty.is_open() ? tty : std::cin;
  const std::filesystem::path dir = args.output.empty() ? "out/" + g->name : args.output;
  const auto results_path = dir / "results.jsonl";
  const KeptResults kept = args.resume ? read_results(results_path) : KeptResults{};
  if (const std::string why = prepare_folder(dir, runs_folder_json(*g, args), args, kept, input); !why.empty()) {
    view.error(why);
    return 2;
  }
  std::ofstream results(results_path, args.resume ? std::ios::app : std::ios::trunc);
  auto write = [&](const Json& line) {
    results << line.dump() << "\n" << std::flush;  // whole lines, so --resume finds them after a kill
  };
  RunsProgress p;
  p.total = p.kept = p.ended = kept.inputs.size();
  p.failed = kept.failed;
  p.prompt_tokens = kept.prompt_tokens;
  p.generated_tokens = p.kept_generated_tokens = kept.generated_tokens;
  RegistryOptions ro;
  ro.history = std::numeric_limits<size_t>::max();  // every run is kept until its line is written
  RunRegistry registry(ro);
  Inbox inbox(registry);
  std::map<std::string, std::pair<size_t, Json>> lines;  // run id -> line number, input
  const auto t0 = std::chrono::steady_clock::now();
  auto ended = [&](bool ok) {
    ++p.ended;
    p.failed += !ok;
    p.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    view.runs_progress(p);
  };
  for (size_t line_no = 1; line_no <= input.size(); ++line_no) {
    const std::string& text = input[line_no - 1];
    if (text.find_first_not_of(" \t\r") == std::string::npos || kept.inputs.count(line_no)) continue;
    ++p.total;
    GraphJob job = base;
    try {
      job.input = Json::parse(text);
    } catch (const Json::exception& e) {
      write(result_line(line_no, text, nullptr, std::string("not valid JSON: ") + e.what()));
      ended(false);
      continue;
    }
    const Json input_record = job.input;
    lines[registry.submit(std::move(job))] = {line_no, input_record};
  }
  serve_until_done(registry, inbox, lines.size(), answers, [&](const RunSnapshot& r) {
    const auto& [n, input_record] = lines.at(r.id);
    write(result_line(n, input_record, &r, ""));
    p.prompt_tokens += r.tokens.prompt;
    p.generated_tokens += r.tokens.generated;
    ended(r.state == RunState::done);
  });
  p.final = true;
  view.runs_progress(p);
  view.runs_summary(p, dir.string());
  std::cout << "outputs: " << dir.string() << "\n";
  return p.failed ? 1 : 0;
}

int run_one(const std::string& input, GraphJob job, RunView& view) {
  try {
    job.input = Json::parse(input);
  } catch (const Json::exception& e) {
    view.error(std::string("--input is not valid JSON: ") + e.what());
    return 2;
  }
  RunRegistry registry;
  Inbox inbox(registry);
  registry.submit(std::move(job));
  RunSnapshot run;
  serve_until_done(registry, inbox, 1, std::cin, [&](const RunSnapshot& r) { run = r; });
  if (run.state == RunState::done) {
    print_trace(run);
    return 0;
  }
  view.error(run.error + fmt::format(" (partial trace: {} nodes)", run.trace.size()));
  return run.error.find("graph run failed") == 0 ? 1 : 2;
}

// The flags of `skein run` that only chains have, or that a one-run invocation cannot use: the
// reason, or "" when none was given.
std::string refused_flag(const RunArgs& args, bool one_run) {
  static const std::set<std::string> kChainOnly = {"--batch-size", "--max-lines-per-file", "--strict", "--no-cache",
                                                   "--cluster",    "--shard-size",         "--detach", "--lease-ms"};
  for (const auto& flag : args.given) {
    if (kChainOnly.count(flag)) return flag + " is for chains, and " + args.file + " is a graph file";
    if (one_run && (flag == "--resume" || flag == "--output"))
      return flag + " is for a file of runs (-i runs.jsonl); --input '{…}' runs one graph and prints its trace";
  }
  return "";
}

}  // namespace

int graph_run_command(const RunArgs& args) {
  RunView view(choose_view(args.quiet, args.json_logs));
  const bool one_run = !args.input.empty() && args.input[0] == '{';
  if (const std::string why = refused_flag(args, one_run); !why.empty()) {
    view.error(why);
    return 2;
  }
  std::vector<GraphWarning> warnings;
  std::shared_ptr<Graph> g;
  try {
    g = std::make_shared<Graph>(load_graph(args.file, &warnings));
  } catch (const Error& e) {
    view.error(e.what());
    return 2;
  }
  for (const auto& w : warnings) view.warning(w.where.str() + ": " + w.message);
  view.note(
      "engine `local` runs the random-weight fixture model unless SKEIN_LOCAL_MODEL points at a real GGUF: its "
      "choices and values are valid but meaningless.");
  const std::unique_ptr<Broker> broker = make_broker(g->broker, args.limits);  // leased per model call
  declare_engines(*broker, g->engines);
  Sampling sampling;
  sampling.temperature = 0.7f;
  EngineLM lm(*broker, g->engine, sampling);
  GraphJob job;
  job.graph = g;
  job.lm = &lm;
  job.verbosity = Verbosity::quiet;
  const int code = one_run ? run_one(args.input, std::move(job), view) : run_many(g, args, std::move(job), view);
  broker->flush(true);
  return code;
}

}  // namespace skein::app
