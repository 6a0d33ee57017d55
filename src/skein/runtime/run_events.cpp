#include "run.hpp"

namespace skein {

const char* to_string(RunState state) {
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

const char* to_string(Verbosity verbosity) {
  switch (verbosity) {
    case Verbosity::silent:
      return "silent";
    case Verbosity::quiet:
      return "quiet";
    case Verbosity::normal:
      return "normal";
    case Verbosity::verbose:
      return "verbose";
  }
  return "?";
}

const char* to_string(RunKind kind) {
  switch (kind) {
    case RunKind::graph:
      return "graph";
    case RunKind::chain:
      return "chain";
  }
  return "?";
}

const char* to_string(RunEventKind kind) {
  switch (kind) {
    case RunEventKind::started:
      return "started";
    case RunEventKind::node_started:
      return "node_started";
    case RunEventKind::node_finished:
      return "node_finished";
    case RunEventKind::dep_finished:
      return "dep_finished";
    case RunEventKind::lm_call:
      return "lm_call";
    case RunEventKind::gate_opened:
      return "gate_opened";
    case RunEventKind::gate_answered:
      return "gate_answered";
    case RunEventKind::done:
      return "done";
    case RunEventKind::failed:
      return "failed";
    case RunEventKind::cancelled:
      return "cancelled";
  }
  return "?";
}

bool is_final(RunEventKind kind) {
  return kind == RunEventKind::done || kind == RunEventKind::failed || kind == RunEventKind::cancelled;
}

Verbosity event_level(RunEventKind kind) {
  switch (kind) {
    case RunEventKind::gate_opened:
    case RunEventKind::done:
    case RunEventKind::failed:
    case RunEventKind::cancelled:
      return Verbosity::quiet;
    case RunEventKind::started:
    case RunEventKind::node_finished:
    case RunEventKind::gate_answered:
      return Verbosity::normal;
    case RunEventKind::node_started:
    case RunEventKind::dep_finished:
    case RunEventKind::lm_call:
      return Verbosity::verbose;
  }
  return Verbosity::verbose;
}

}  // namespace skein
