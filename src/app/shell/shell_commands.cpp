#include "shell_commands.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace skein::app {

namespace {

using Handler = void (*)(Host&, const std::string& args, std::ostream& out);

double ms(int64_t ns) { return double(ns) / 1e6; }

// "run approve {…}" -> {"run", "approve {…}"}
std::pair<std::string, std::string> split_word(const std::string& text) {
  const size_t start = text.find_first_not_of(" \t");
  if (start == std::string::npos) return {"", ""};
  const size_t end = text.find_first_of(" \t", start);
  if (end == std::string::npos) return {text.substr(start), ""};
  const size_t rest = text.find_first_not_of(" \t", end);
  return {text.substr(start, end - start), rest == std::string::npos ? "" : text.substr(rest)};
}

// JSON if it parses, else the text as a string.
Json value_of(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception&) {
    return text;
  }
}

std::optional<RunSnapshot> find_run(Host& host, const std::string& id, std::ostream& out) {
  if (id.empty()) {
    out << "which run? (see list)\n";
    return std::nullopt;
  }
  auto run = host.registry().get(id);
  if (!run) out << "no run '" << id << "'\n";
  return run;
}

void run_cmd(Host& host, const std::string& args, std::ostream& out) {
  auto [file, input] = split_word(args);
  if (file.empty()) {
    out << "usage: run FILE [INPUT]\n";
    return;
  }
  if (!host.find(file)) host.load(file);
  const std::optional<HostFile> f = host.find(file);
  const Json value = input.empty() ? (f->graph ? Json::object() : Json()) : value_of(input);
  const std::string id = host.submit(file, value);
  out << id << " submitted (" << to_string(f->kind) << " " << f->name << ")\n";
}

void list_cmd(Host& host, const std::string&, std::ostream& out) {
  const auto runs = host.registry().list();
  if (runs.empty()) out << "no runs\n";
  for (const auto& r : runs) out << Host::summary_line(r) << "\n";
  if (size_t n = host.registry().pending_gates()) out << n << " gate(s) waiting: see gates\n";
}

void cancel_cmd(Host& host, const std::string& args, std::ostream& out) {
  std::vector<std::string> ids;
  if (args == "all") {
    for (const auto& r : host.registry().list())
      if (!is_finished(r.state)) ids.push_back(r.id);
  } else if (!args.empty()) {
    ids.push_back(split_word(args).first);
  }
  if (ids.empty()) out << (args.empty() ? "usage: cancel ID|all\n" : "no active run\n");
  for (const auto& id : ids)
    out << id << (host.registry().cancel(id) ? ": cancelling\n" : ": not active (or unknown)\n");
}

void resume_cmd(Host& host, const std::string& args, std::ostream& out) {
  const std::string id = split_word(args).first;
  if (id.empty()) {
    out << "usage: resume ID\n";
    return;
  }
  const std::string resumed = host.resume(id);
  out << (resumed == id ? id + " resumed from its last checkpoint" : resumed + " resumes " + id) << "\n";
}

void fork_cmd(Host& host, const std::string& args, std::ostream& out) {
  const auto [id, rest] = split_word(args);
  const auto [at, fields] = split_word(rest);
  size_t k = 0;
  const auto [end, ec] = std::from_chars(at.data(), at.data() + at.size(), k);
  if (id.empty() || at.empty() || ec != std::errc() || end != at.data() + at.size()) {
    out << "usage: fork ID NODE [FIELDS]   e.g. fork g3 2 {\"answer\": \"no\"}\n";
    return;
  }
  out << host.fork(id, k, fields.empty() ? Json::object() : Json::parse(fields)) << " forks " << id << " at node " << k
      << "\n";
}

void inspect_cmd(Host& host, const std::string& args, std::ostream& out) {
  const auto r = find_run(host, split_word(args).first, out);
  if (!r) return;
  out << Host::summary_line(*r) << "\n  input: " << r->input.dump() << "\n";
  for (size_t i = 0; i < r->trace.size(); ++i) {
    std::string time;
    if (i < r->nodes.size()) {
      const NodeTiming& t = r->nodes[i];
      time = fmt::format("{:>8.1f} ms", ms((t.end_ns ? t.end_ns : now_ns()) - t.start_ns));
      if (t.deps_ns) time += fmt::format("  deps {:.1f} ms", ms(t.deps_ns));
      if (t.lm_ns)
        time += fmt::format("  model {:.1f} ms (queue {:.1f}, generation {:.1f}), {} tok", ms(t.lm_ns), ms(t.queue_ns),
                            ms(t.generate_ns), t.tokens.generated);
    }
    out << fmt::format("  {:>2}. {:<16} {}\n      {}\n", i + 1, r->trace[i].type, time, r->trace[i].fields.dump());
  }
  if (!r->node.empty() && !is_finished(r->state)) out << "  now at " << r->node << "\n";
  for (const auto& d : r->deps)
    out << fmt::format("  dep {:<14} {:>8.1f} ms  {}\n", d.dep, ms((d.end_ns ? d.end_ns : now_ns()) - d.start_ns),
                       d.end_ns ? (d.error.empty() ? "ok" : d.error) : "running");
  if (r->kind == RunKind::chain && r->progress.is_object()) out << "  progress: " << r->progress.dump() << "\n";
  out << fmt::format("  tokens: {} prompt + {} generated\n", r->tokens.prompt, r->tokens.generated);
  if (r->terminal) out << "  result: " << r->terminal->type << " " << r->terminal->fields.dump() << "\n";
  if (!r->error.empty()) out << "  error: " << r->error << "\n";
}

void trace_cmd(Host& host, const std::string& args, std::ostream& out) {
  const auto r = find_run(host, split_word(args).first, out);
  if (!r) return;
  const int64_t origin = r->submitted_ns;
  for (const auto& e : host.registry().events(r->id))
    out << fmt::format("  {:>9.1f} ms  {:<14} {}\n", ms(e.t_ns - origin), to_string(e.kind), e.data.dump());
}

void gates_cmd(Host& host, const std::string&, std::ostream& out) {
  const auto gates = host.registry().gates();
  if (gates.empty()) out << "no gate is open\n";
  for (const auto& g : gates)
    out << fmt::format("  {:<8} {}.{}: {}  ({})  waiting {:.0f} s\n", g.id, g.node, g.field, g.question,
                       g.schema.dump(), ms(now_ns() - g.opened_ns) / 1000);
}

void input_cmd(Host& host, const std::string& args, std::ostream& out) {
  auto [gate, value] = split_word(args);
  const auto open = host.registry().gates();
  if (!gate.empty() && value.empty() && open.size() == 1) value = gate, gate = open[0].id;  // the only gate
  if (gate.empty() || value.empty()) {
    out << "usage: input GATE VALUE (JSON, or else a string)\n";
    return;
  }
  host.registry().answer(gate, value_of(value));
  out << gate << " answered\n";
}

void engines_cmd(Host& host, const std::string&, std::ostream& out) {
  for (const auto& e : host.engines())
    out << fmt::format("  {:<12} {:<8} {:<9} leases {}  {}\n", e.name, e.backend, to_string(e.state), e.leases,
                       e.model);
}

void flush_cmd(Host& host, const std::string&, std::ostream& out) {
  host.flush();
  host.registry().flush_store();
  out << "idle engines released; the store is up to date\n";
}

void files_cmd(Host& host, const std::string&, std::ostream& out) {
  for (const auto& f : host.files()) out << fmt::format("  {:<16} {:<6} {}\n", f.name, to_string(f.kind), f.path);
}

void load_cmd(Host& host, const std::string& args, std::ostream& out) {
  out << "loaded " << host.load(split_word(args).first).name << "\n";
}

struct Command {
  const char* name;
  const char* args;
  const char* help;
  Handler handler;
};
const std::vector<Command>& commands();

void help_cmd(Host&, const std::string&, std::ostream& out) {
  for (const auto& c : commands()) out << fmt::format("  {:<8} {:<22} {}\n", c.name, c.args, c.help);
  out << "  Ctrl-C with runs active opens a menu to cancel them; with none, it quits.\n";
}

// In the order `help` lists them; quit has no handler.
const std::vector<Command>& commands() {
  static const std::vector<Command> c{
      {"run", "FILE [INPUT]", "start a run: a graph's start fields as JSON, a chain's records or JSONL path", run_cmd},
      {"list", "", "every run in memory with its state, time and tokens", list_cmd},
      {"cancel", "ID|all", "cancel a run (or every active one)", cancel_cmd},
      {"resume", "ID", "resume a CRASHED, CANCELLED or FAILED run from its last checkpoint", resume_cmd},
      {"fork", "ID NODE [FIELDS]", "a new graph run: ID's nodes up to NODE (0-based), its FIELDS replaced", fork_cmd},
      {"inspect", "ID", "a run's trace with per-node times, deps, tokens, result or error", inspect_cmd},
      {"trace", "ID", "a run's event stream", trace_cmd},
      {"gates", "", "the open gates", gates_cmd},
      {"input", "GATE VALUE", "answer a gate (JSON, or else a string); GATE may be left out if one is open", input_cmd},
      {"engines", "", "the engine pool", engines_cmd},
      {"flush", "", "release idle engines, bring the store up to date", flush_cmd},
      {"files", "", "the loaded files", files_cmd},
      {"load", "FILE", "load (or reload) a graph or chain file", load_cmd},
      {"help", "", "this list", help_cmd},
      {"quit", "", "leave (active runs are cancelled); also Ctrl-D", nullptr}};
  return c;
}

}  // namespace

bool run_shell_line(Host& host, const std::string& line, std::ostream& out) {
  const auto split = split_word(line);
  const std::string& name = split.first;
  const std::string& args = split.second;
  if (name.empty()) return true;
  if (name == "quit" || name == "exit") return false;
  const auto& all = commands();
  const auto it = std::find_if(all.begin(), all.end(), [&](const Command& c) { return name == c.name; });
  if (it == all.end()) {
    out << "unknown command '" << name << "' (help lists them)\n";
    return true;
  }
  try {
    it->handler(host, args, out);
  } catch (const std::exception& e) {
    out << "error: " << e.what() << "\n";
  }
  return true;
}

std::string notification(Host& host, const RunEvent& e) {
  if (e.kind == RunEventKind::gate_opened) {
    for (const auto& g : host.registry().gates())
      if (g.id == e.data.value("gate", ""))
        return fmt::format("gate {} open: {}.{}: {} ({}) -> input {} VALUE", g.id, g.node, g.field, g.question,
                           g.schema.dump(), g.id);
    return "";
  }
  if (!is_final(e.kind)) return "";
  // The event is recorded just before the run's state changes.
  host.registry().wait_until(
      e.run, [](const RunSnapshot& s) { return is_finished(s.state); }, std::chrono::seconds(5));
  const auto r = host.registry().get(e.run);
  return r ? Host::summary_line(*r) : e.run + " " + to_string(e.kind);
}

}  // namespace skein::app
