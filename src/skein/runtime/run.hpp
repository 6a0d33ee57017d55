// One registered run: what readers see (a RunSnapshot), its event stream, its open gates and what
// the loop needs to drive and cancel it. Every member is guarded by the registry's mutex, except
// `signal`, `timing` and `gate_timer`, which only the loop thread touches.
#pragma once
#include <algorithm>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "run_ledger.hpp"
#include "skein/graph_run.hpp"
#include "skein/run_registry.hpp"
#include "skein/timing_lm.hpp"
#include "util/json_dispose.hpp"

namespace skein::runtime {

struct OpenGate {
  GateInfo info;           // its schema left empty: see shown()
  int64_t node_index = 0;  // in the trace, of the node it belongs to
  TypePtr type;
  std::optional<Json> answer;
  GateInfo shown() const {
    GateInfo g = info;
    g.schema = type ? type->schema() : Json::object();
    return g;
  }
};

// An event as a run keeps it, shared with the listeners it is handed to.
using EventPtr = std::shared_ptr<const RunEvent>;

// The event shared; its JSON freed from the leaves up (util/json_dispose.hpp) by whichever owner
// lets go of it last (the run, or a listener's call still queued on the loop).
inline EventPtr make_event(RunEvent event) {
  struct Owned {
    explicit Owned(RunEvent e) : event(std::move(e)) {}
    ~Owned() { dispose(event.data); }
    RunEvent event;
  };
  auto owned = std::make_shared<Owned>(std::move(event));
  return EventPtr(owned, &owned->event);
}

struct Run : std::enable_shared_from_this<Run> {
  // Its JSON freed from the leaves up (util/json_dispose.hpp): a run's steps are much of what a
  // finished run leaving the history frees (its events free theirs: make_event).
  ~Run() {
    for (auto& step : snap.trace) dispose(step.fields);
    dispose(snap.input);
  }
  RunSnapshot snap;
  GraphJob job;                     // a chain run: only its verbosity
  std::unique_ptr<ChainJob> chain;  // a chain run's (apart: graph runs do not pay for it)
  std::unique_ptr<ChainStop> stop;  // a chain run's
  std::vector<EventPtr> events;
  std::map<std::string, OpenGate> open;  // by gate id
  int gates_opened = 0;
  bool cancel_requested = false, terminated = false;
  int64_t deps_ns_pending = 0;  // dep time not yet counted to a node
  std::set<int> groups;         // process groups of running exec deps
  uint64_t order_key = 0;       // its place in the registry's submission order
  struct {
    size_t trace = 0, nodes = 0, deps = 0;
  } stored;  // steps already handed to the store

  std::optional<StoreLedger> ledger;     // graph runs
  std::vector<TraceEntry> resume_trace;  // a resumed or forked run: where it goes on from
  LMTokens tokens_before;                // … and the tokens of the nodes it keeps

  std::optional<TimingLM> timing;  // the job's LM, timed
  std::unique_ptr<GraphObserver> observer;
  boost::asio::cancellation_signal signal;
  std::shared_ptr<boost::asio::steady_timer> gate_timer;

  RunSnapshot snapshot() const {
    RunSnapshot s = snap;
    for (const auto& [id, g] : open)
      if (!g.answer) s.gates.push_back(g.shown());
    s.processes.assign(groups.begin(), groups.end());
    return s;
  }
  // f(snapshot()), without the copy when the snapshot would be `snap` as it is (no gate open, no
  // process running): what a waiter's condition is checked on, at every change of its run.
  template <typename F>
  bool test(F&& f) const {
    if (groups.empty() && std::none_of(open.begin(), open.end(), [](const auto& g) { return !g.second.answer; }))
      return f(snap);
    return f(snapshot());
  }
};

// Copies of the run's events, oldest first. Under the registry's mutex.
inline std::vector<RunEvent> events_of(const Run& run) {
  std::vector<RunEvent> out;
  out.reserve(run.events.size());
  for (const auto& ev : run.events) out.push_back(*ev);
  return out;
}

}  // namespace skein::runtime
