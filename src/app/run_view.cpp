#include "run_view.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "skein/json.hpp"

namespace skein::app {
namespace {

std::string duration(double seconds) {
  const long s = long(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string wall_time(double seconds) { return seconds < 60 ? fmt::format("{:.2f} s", seconds) : duration(seconds); }

std::string bar(double fraction, int width) {
  const int full = int(fraction * width + 0.5);
  std::string out;
  for (int i = 0; i < width; ++i) out += i < full ? "█" : "░";
  return out;
}

// Redraws at most this often (the last state is always drawn).
std::chrono::milliseconds interval(ViewMode mode) {
  switch (mode) {
    case ViewMode::terminal:
      return std::chrono::milliseconds(100);
    case ViewMode::json:
      return std::chrono::seconds(1);
    case ViewMode::quiet:
    case ViewMode::plain:
      break;
  }
  return std::chrono::seconds(10);
}

}  // namespace

ViewMode choose_view(bool quiet, bool json_logs) {
  if (json_logs) return ViewMode::json;
  if (quiet) return ViewMode::quiet;
  return ::isatty(STDERR_FILENO) ? ViewMode::terminal : ViewMode::plain;
}

RunView::RunView(ViewMode mode) : mode_(mode) {
  const char* no_color = std::getenv("NO_COLOR");
  color_ = mode == ViewMode::terminal && !(no_color && *no_color);
}

std::string RunView::paint(const std::string& text, const char* code) const {
  return color_ ? fmt::format("\033[{}m{}\033[0m", code, text) : text;
}

std::string RunView::meter(const std::string& label, size_t done, std::optional<size_t> total, const char* unit,
                           const std::string& middle, double elapsed, bool final, bool estimated) const {
  const double rate = elapsed > 0 ? double(done) / elapsed : 0;
  std::string line = fmt::format("{:<22} ", label);
  if (total && *total > 0) {
    const double f = std::min(1.0, double(done) / double(*total));
    line += paint(bar(f, 20), "32") +
            fmt::format(" {:>3.0f}% {}/{}{} {}", f * 100, done, estimated ? "~" : "", *total, unit);
  } else {
    line += fmt::format("{} {}", done, unit);
  }
  line += fmt::format("  {}  {:.0f} {}/s", middle, rate, unit);
  if (total && rate > 0 && done < *total && !final) line += "  ETA " + duration(double(*total - done) / rate);
  return line;
}

std::string RunView::count_of(const char* what, size_t n) const {
  const std::string text = fmt::format("{} {}", what, n);
  return n ? paint(text, "31") : text;
}

std::string RunView::node_line(const std::string& path, const NodeCounts& c, const RunProgress& p) const {
  return meter(path, c.rows, p.rows_total, "rows",
               fmt::format("in {} out {} ", c.in, c.out) + count_of("errors", c.errors), p.elapsed_seconds, p.final,
               p.rows_total_estimated);
}

bool RunView::due(bool final) {
  const auto now = std::chrono::steady_clock::now();
  if (mode_ == ViewMode::quiet || (!final && now - last_ < interval(mode_))) return false;
  last_ = now;
  return true;
}

void RunView::redraw(const std::vector<std::string>& lines) {
  std::string out;
  if (mode_ == ViewMode::terminal && drawn_ > 0) out += fmt::format("\033[{}A", drawn_);
  for (const auto& line : lines) out += (mode_ == ViewMode::terminal ? "\033[2K" : "") + line + "\n";
  drawn_ = int(lines.size());
  std::cerr << out << std::flush;
}

void RunView::progress(const RunProgress& p) {
  if (!due(p.final)) return;
  const RunSummary& s = p.so_far;
  if (mode_ == ViewMode::json) {
    Json nodes = Json::object();
    for (const auto& path : s.node_order) {
      const NodeCounts& c = s.nodes.at(path);
      nodes[path] = {{"rows", c.rows}, {"in", c.in}, {"out", c.out}, {"errors", c.errors}};
    }
    std::cerr << Json{{"event", "progress"},
                      {"elapsed_seconds", p.elapsed_seconds},
                      {"rows_total", p.rows_total ? Json(*p.rows_total) : Json()},
                      {"rows_total_estimated", p.rows_total_estimated},
                      {"nodes", nodes}}
                     .dump()
              << "\n";
    return;
  }
  std::vector<std::string> lines;
  for (const auto& path : s.node_order) lines.push_back(node_line(path, s.nodes.at(path), p));
  redraw(lines);
}

void RunView::runs_progress(const RunsProgress& p) {
  if (!due(p.final)) return;
  if (mode_ == ViewMode::json) {
    std::cerr << Json{{"event", "progress"},     {"elapsed_seconds", p.elapsed_seconds},
                      {"runs_total", p.total},   {"runs_ended", p.ended},
                      {"runs_failed", p.failed}, {"runs_kept", p.kept}}
                     .dump()
              << "\n";
    return;
  }
  // The rate and ETA count this invocation's runs, not those kept from an earlier one.
  std::string line = meter("runs", p.ended - p.kept, p.total - p.kept, "runs", count_of("failed", p.failed),
                           p.elapsed_seconds, p.final);
  if (p.kept) line += fmt::format("  ({} kept from the earlier invocation)", p.kept);
  redraw({line});
}

void RunView::runs_summary(const RunsProgress& p, const std::string& output_dir) {
  if (mode_ == ViewMode::json) {
    std::cerr << Json{{"event", "summary"},
                      {"runs", p.total},
                      {"runs_failed", p.failed},
                      {"runs_kept", p.kept},
                      {"prompt_tokens", p.prompt_tokens},
                      {"generated_tokens", p.generated_tokens},
                      {"wall_seconds", p.elapsed_seconds},
                      {"output_dir", output_dir}}
                     .dump()
              << "\n";
    return;
  }
  if (mode_ == ViewMode::quiet) return;
  const long long generated_now = p.generated_tokens - p.kept_generated_tokens;  // the rate is this invocation's
  const double tok_rate = p.elapsed_seconds > 0 ? double(generated_now) / p.elapsed_seconds : 0;
  std::cerr << fmt::format("\nruns: {}, {} failed{}\ntokens: {} in, {} out ({:.0f}/s)\nwall time: {}\n", p.total,
                           p.failed,
                           p.kept ? fmt::format(" ({} kept from the earlier invocation, counted here)", p.kept) : "",
                           p.prompt_tokens, p.generated_tokens, tok_rate, wall_time(p.elapsed_seconds));
}

void RunView::say(const char* event, const std::string& prefix, const char* color, const std::string& message,
                  bool even_quiet) {
  if (mode_ == ViewMode::json)
    std::cerr << Json{{"event", event}, {"message", message}}.dump() << "\n";
  else if (mode_ != ViewMode::quiet || even_quiet)
    std::cerr << (color ? paint(prefix, color) : prefix) << message << "\n";
  drawn_ = 0;  // the next redraw starts below this line
}

void RunView::warning(const std::string& message) { say("warning", "warning: ", "33", message, false); }
void RunView::note(const std::string& message) { say("note", "note: ", nullptr, message, false); }
void RunView::error(const std::string& message) { say("error", "skein: ", "31", message, true); }

void RunView::summary(const RunSummary& s) {
  long long tokens_in = 0, tokens_out = 0, calls = 0, cached = 0, reused = 0;
  for (const auto& [path, c] : s.nodes) {
    tokens_in += c.prompt_tokens;
    reused += c.cached_prompt_tokens;
    tokens_out += c.generated_tokens;
    calls += c.engine_calls;
    cached += c.cached;
  }
  if (mode_ == ViewMode::json) {
    Json engines = Json::object();
    for (const auto& [name, secs] : s.engine_load_seconds) engines[name] = {{"load_seconds", secs}};
    std::cerr << Json{{"event", "summary"},
                      {"status", to_string(s.status)},
                      {"records_in", s.records_in},
                      {"records_out", s.records_out},
                      {"errors", s.errors},
                      {"engine_calls", calls},
                      {"cached", cached},
                      {"prompt_tokens", tokens_in},
                      {"cached_prompt_tokens", reused},
                      {"generated_tokens", tokens_out},
                      {"engines", engines},
                      {"wall_seconds", s.wall_seconds},
                      {"output_dir", s.output_dir}}
                     .dump()
              << "\n";
    return;
  }
  if (mode_ == ViewMode::quiet) return;
  // "reused": prompt tokens an engine took from its prefix cache instead of computing them.
  std::string out = fmt::format("\n{:<22} {:>8} {:>8} {:>8} {:>8} {:>11} {:>11} {:>11}\n", "node", "in", "out",
                                "errors", "cached", "tokens in", "reused", "tokens out");
  for (const auto& path : s.node_order) {
    const NodeCounts& c = s.nodes.at(path);
    out += fmt::format("{:<22} {:>8} {:>8} {:>8} {:>8} {:>11} {:>11} {:>11}\n", path, c.in, c.out, c.errors, c.cached,
                       c.prompt_tokens, c.cached_prompt_tokens, c.generated_tokens);
  }
  for (const auto& [name, secs] : s.engine_load_seconds)
    out += fmt::format("engine {} loaded in {:.2f} s\n", name, secs);
  const double tok_rate = s.wall_seconds > 0 ? tokens_out / s.wall_seconds : 0;
  out += fmt::format("records: {} in, {} out, {} errors{}\n", s.records_in, s.records_out, s.errors,
                     s.resumed ? " (resumed run: counts include the earlier part)" : "");
  out += fmt::format(
      "engine calls: {}, answered from the response cache: {}; tokens: {} in ({} computed, {} reused from the prefix "
      "cache), {} out ({:.0f}/s)\n",
      calls, cached, tokens_in, tokens_in - reused, reused, tokens_out, tok_rate);
  out += fmt::format("wall time: {}\n", wall_time(s.wall_seconds));
  std::cerr << out;
}

}  // namespace skein::app
