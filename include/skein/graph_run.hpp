// Running a graph (SPEC §4): the run loop, deps and recall; the LM protocol it talks to is
// graph_lm.hpp's.
//
// Per node, once its fields are made: yield to the loop's other work (by default at every node;
// with a slice, once it has passed since the run started or last yielded) -> iteration limit ->
// resolve the node's gates -> append it to the trace -> its effects -> route (decide) -> fill the
// chosen node (its deps and recalls resolved first, then the model's fields). The result is the
// terminal node and the trace.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <compare>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/enum_names.hpp"
#include "skein/graph.hpp"
#include "skein/graph_lm.hpp"

namespace skein {

// One node of a run: its type and every field's value.
struct TraceEntry {
  std::string type;
  Json fields = empty_object();
};

// A graph run's error: the node type it happened at and the trace so far.
class GraphError : public Error {
 public:
  GraphError(const std::string& node, std::vector<TraceEntry> trace, const std::string& message)
      : Error("graph run failed at node '" + node + "': " + message), node_(node), trace_(std::move(trace)) {}
  const std::string& node() const { return node_; }
  const std::vector<TraceEntry>& trace() const { return trace_; }

 private:
  std::string node_;
  std::vector<TraceEntry> trace_;
};

// Where a run asked outside itself: the LM to choose the next node or fill one, a node-typed dep
// made, a dep function, a gate.
enum class LedgerKind { choose, dep, fill, gate, make };
const char* to_string(LedgerKind kind);  // choose, dep, fill, gate, make
template <>
struct EnumCount<LedgerKind> {
  static constexpr int value = 5;
};

// What a run learned from outside it, by where it asked: `node` is the index in the trace of the
// node being produced (the trace's size at the time), `key` the field made or answered or the
// dep's name (empty for choose and fill). Deps belong to the whole run: their node is -1.
struct LedgerKey {
  int64_t node = 0;
  LedgerKind kind = LedgerKind::choose;
  std::string key;
  auto operator<=>(const LedgerKey&) const = default;
};

// A run's ledger: each LM reply (`{"value", "prompt", "generated"}`) and dep value (`{"value",
// "at"}`, at: the node index that first needed it) recorded before the run acts on it, so a
// resumed run asks nothing twice. A call in flight when a host dies has no entry and is asked
// again; an `exec` dep started then is adopted through the spool instead (see spool()).
// Called on the run's loop.
class RunLedger {
 public:
  virtual ~RunLedger() = default;
  virtual std::optional<Json> find(const LedgerKey& key) const = 0;
  // Records `value`; completes once it is durable (with a store: committed).
  virtual boost::asio::awaitable<void> record(LedgerKey key, Json value) = 0;
  // Records `value` at once (moving from both) and returns true when there is nothing to wait for
  // (a ledger kept in memory only); else touches neither and returns false: co_await record().
  // Spares a run's every LM call a coroutine frame.
  virtual bool record_at_once(LedgerKey& /*key*/, Json& /*value*/) { return false; }
  // A folder of the run's own where `exec` deps read their input and write their output
  // (<dep>.in, <dep>.out), spawned to outlive a killed host: a resumed run waits for one still
  // running and takes its output instead of running it again. Empty: deps use pipes and die with
  // the host.
  virtual std::filesystem::path spool() const { return {}; }
};

// Values of deps resolved in a run, by function name. A caller may pre-seed it: a seeded name is
// never computed.
using DepCache = std::map<std::string, Json>;

// Hooks a host (the run registry) sees a run through (its LM calls: through a TimingLM); called on the run's executor,
// never concurrently for one run. Node `i`'s time runs from the end of node i-1 (the start of the run for the first) to
// its entry in the trace: routing to it, its deps, recalls, model fields, gates.
class GraphObserver {
 public:
  virtual ~GraphObserver() = default;
  virtual void node_entered(const std::string& /*type*/) {}
  virtual void node_done(size_t /*index*/, const TraceEntry& /*entry*/, int64_t /*start_ns*/, int64_t /*end_ns*/) {}
  virtual void dep_done(const std::string& /*name*/, int64_t /*start_ns*/, int64_t /*end_ns*/,
                        const std::string& /*error*/) {}
  // An LM call answered from the ledger (no model asked): the tokens it cost when it was asked.
  virtual void lm_replayed(const LMTokens& /*tokens*/) {}
};

struct GraphRunOptions {
  GraphLM* lm = nullptr;  // required
  DepCache dep_cache;     // pre-seeded deps
  // Answers the open gates of a node, all asked at once so they can be answered in any order:
  // an object of each gate field's value, given the node's fields so far. Unset: a gate is an error.
  std::function<boost::asio::awaitable<Json>(const NodeType& node, const std::vector<const Field*>& gates,
                                             const Json& fields)>
      answer_gates;
  // Called with each node produced, by node type ("*": every node).
  std::map<std::string, std::function<void(const TraceEntry&)>> effects;
  // Routes in code instead of the model: returns the next node type (or "end"), by node type.
  std::map<std::string, std::function<std::string(const TraceEntry&)>> handlers;
  // Where user code runs (native dep functions, handlers, effects), so it never stalls the run loop
  // (and other runs); unset: the run's own executor.
  boost::asio::any_io_executor blocking;
  GraphObserver* observer = nullptr;  // optional
  // Told, on the run's loop, when an `exec` dep's process group starts (true) and ends, so a host
  // can kill it when the run is cancelled.
  std::function<void(int group, bool running)> on_process;
  RunLedger* ledger = nullptr;  // optional; must outlive the run
  // When the run lets the loop's other work go on: as a node is about to be kept, once this long
  // has passed since the run started or last yielded (whether or not its calls waited meanwhile);
  // 0 (the default, SPEC §4): at every node, the first included. A slice matters for runs whose
  // calls never wait (an LM answering from memory, a ledger's replay): a run then keeps its memory
  // in the cache for a slice's nodes (10,000 such runs of 10 nodes on one loop: about 1.9 M
  // transitions/s with 20 us, 1.3-1.6 M at every node), and work queued behind such runs waits
  // about a slice (and the node under way) per run. A cancel posted to the loop reaches such a run
  // when it lets go: until then, with no blocking executor, the inline deps and effects of its next
  // nodes still run.
  std::chrono::nanoseconds slice{0};
  // A run resumed (or forked) from a checkpoint: the trace so far, the run going on by routing from
  // its last node (the input is then unused; the restored nodes' effects do not run again).
  std::vector<TraceEntry> resume_trace;
};

struct GraphResult {
  TraceEntry terminal;
  std::vector<TraceEntry> trace;
  DepCache deps;    // every dep resolved in the run
  LMTokens tokens;  // every LM call of the run
};

// Runs `graph` from its start node filled with `input` (the start node's plain fields). Throws
// GraphError (node and trace), or ConfigError for input that does not fit the start node.
boost::asio::awaitable<GraphResult> run_graph(const Graph& graph, Json input, GraphRunOptions options);

// Runs it to the end on a private io_context, on the calling thread, which it blocks. User code
// (native deps, handlers, effects) runs on options.blocking when set, else on a pool of 4 threads
// that every run_graph_sync call of the process shares (started at the first call; a call made by
// user code on that pool gets 4 threads of its own). Thread-safe.
GraphResult run_graph_sync(const Graph& graph, Json input, GraphRunOptions options);

// The recalled value of `type` for a node about to be added after `trace`: the latest node of that
// type, else the latest non-null plain field of that type. Nothing when there is neither.
std::optional<Json> recall(const Graph& graph, const std::vector<TraceEntry>& trace, const std::string& type);

}  // namespace skein
