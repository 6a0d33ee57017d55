// What `skein run` shows on stderr: per-node progress bars (rows done/total, rate, ETA) redrawn in
// place on a terminal, a line per node now and then otherwise, JSON lines with --json-logs, nothing
// with --quiet; warnings; the end summary. Colours only on a terminal and without NO_COLOR.
#pragma once
#include <chrono>
#include <string>

#include "skein/chain.hpp"

namespace skein::app {

enum class ViewMode { quiet, terminal, plain, json };

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

 private:
  std::string node_line(const std::string& path, const NodeCounts& c, const RunProgress& p) const;
  std::string paint(const std::string& text, const char* code) const;
  // A line of `event` (JSON with --json-logs); shown with --quiet only when `even_quiet`.
  void say(const char* event, const std::string& prefix, const char* color, const std::string& message,
           bool even_quiet);
  ViewMode mode_;
  bool color_;
  int drawn_ = 0;  // lines of the last redraw, to move back over
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace skein::app
