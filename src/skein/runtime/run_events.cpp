#include "run.hpp"

namespace skein {

const char* state_name(RunState state) {
  switch (state) {
    case RunState::pending:
      return "PENDING";
    case RunState::running:
      return "RUNNING";
    case RunState::waiting:
      return "WAITING";
    case RunState::done:
      return "DONE";
    case RunState::failed:
      return "FAILED";
    case RunState::cancelled:
      return "CANCELLED";
    case RunState::crashed:
      return "CRASHED";
  }
  return "?";
}

bool is_finished(RunState state) {
  return state == RunState::done || state == RunState::failed || state == RunState::cancelled ||
         state == RunState::crashed;
}

namespace runtime {

Verbosity event_level(const std::string& kind) {
  if (kind == "gate_opened" || kind == "done" || kind == "failed" || kind == "cancelled") return Verbosity::quiet;
  if (kind == "started" || kind == "node_finished" || kind == "gate_answered") return Verbosity::normal;
  return Verbosity::verbose;  // node_started, dep_finished, lm_call
}

}  // namespace runtime
}  // namespace skein
