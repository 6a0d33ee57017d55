// What `skein run` shows on stderr: per-node progress bars (rows done/total, rate, ETA) redrawn in
// place on a terminal, a line per node now and then otherwise, JSON lines with --json-logs, nothing
// with --quiet; warnings; the end summary. Colours only on a terminal and without NO_COLOR.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "skein/chain.hpp"

namespace skein::app {

enum class ViewMode { quiet, terminal, plain, json };

// How far the runs of `skein run GRAPH -i runs.jsonl` are.
struct RunsProgress {
  size_t total = 0;  // input lines with a run (or a result for a line that is not JSON)
  size_t ended = 0, failed = 0;
  size_t kept = 0;  // of those ended: the results an earlier invocation wrote (--resume)
  long long prompt_tokens = 0, generated_tokens = 0;  // kept results' included
  long long kept_generated_tokens = 0;
  double elapsed_seconds = 0;  // of this invocation
  bool final = false;
};

// terminal when stderr is one, else plain; json or quiet when asked.
ViewMode choose_view(bool quiet, bool json_logs);

class RunView {
 public:
  explicit RunView(ViewMode mode);
  void progress(const RunProgress& p);
  void warning(const std::string& message);
  void note(const std::string& message);  // not shown with --quiet
  void error(const std::string& message);
  void summary(const RunSummary& s);
  void runs_progress(const RunsProgress& p);
  void runs_summary(const RunsProgress& p, const std::string& output_dir);

 private:
  bool due(bool final);  // whether to redraw now (at most every interval; the last state always)
  void redraw(const std::vector<std::string>& lines);
  // "<label> <bar> 42% 21/50 <unit>  <middle>  12 <unit>/s  ETA 0:03" (no bar without a total;
  // "21/~50" when the total is an estimate).
  std::string meter(const std::string& label, size_t done, std::optional<size_t> total, const char* unit,
                    const std::string& middle, double elapsed, bool final, bool estimated = false) const;
  std::string node_line(const std::string& path, const NodeCounts& c, const RunProgress& p) const;
  std::string paint(const std::string& text, const char* code) const;
  std::string count_of(const char* what, size_t n) const;  // "errors 3" in red, "errors 0" plain
  // A line of `event` (JSON with --json-logs); shown with --quiet only when `even_quiet`.
  void say(const char* event, const std::string& prefix, const char* color, const std::string& message,
           bool even_quiet);
  ViewMode mode_;
  bool color_;
  int drawn_ = 0;  // lines of the last redraw, to move back over
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace skein::app
