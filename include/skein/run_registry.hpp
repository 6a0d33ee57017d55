// The run registry (SPEC §5): every run submitted to it gets an id (`g<n>` for graphs, `c<n>` for
// chains), a state,
// its current node, per-node and per-dep timing, tokens, an event stream, its open gates and, once
// finished, its result or error. Runs proceed concurrently on the registry's loop (one io thread;
// blocking dep functions on a thread pool); a run yields before it keeps each node (by default:
// see GraphRunOptions::slice), so no run starves another.
//
// States: PENDING -> RUNNING <-> WAITING (open gates) -> DONE | FAILED | CANCELLED; a run found
// unfinished in the store when it is opened (its host died) is CRASHED. A CRASHED, FAILED or
// CANCELLED run may be resumed: a graph run keeps its id and goes back to PENDING. Finished runs
// are kept in memory up to `history`, oldest dropped first; active runs are always kept.
//
// Durability: with a store, every node of a graph run is checkpointed (its trace row, written by
// the store's thread) and every answer from outside it (an LM reply, a dep's value, a gate's
// answer) is in its ledger before the run acts on it.
//
// Thread-safe: every member may be called from any thread, including from a subscriber.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/chain.hpp"
#include "skein/enum_names.hpp"
#include "skein/graph_run.hpp"

namespace skein {

class RunStore;  // skein/run_store.hpp

enum class RunState { pending, running, waiting, done, failed, cancelled, crashed };
const char* to_string(RunState state);  // PENDING, RUNNING, … (in capitals, as SPEC §5 writes them)
template <>
struct EnumCount<RunState> {
  static constexpr int value = 7;
};
bool is_finished(RunState state);

// How much of a run's life its event stream records (each run has its own).
enum class Verbosity { silent, quiet, normal, verbose };
const char* to_string(Verbosity verbosity);  // silent, quiet, normal, verbose
template <>
struct EnumCount<Verbosity> {
  static constexpr int value = 4;
};

// What a run is.
enum class RunKind { graph, chain };
const char* to_string(RunKind kind);  // graph, chain
template <>
struct EnumCount<RunKind> {
  static constexpr int value = 2;
};

// What happened. quiet: gate_opened, done, failed, cancelled; normal: + started, node_finished,
// gate_answered; verbose: + node_started, dep_finished, lm_call.
enum class RunEventKind {
  started,
  node_started,
  node_finished,
  dep_finished,
  lm_call,
  gate_opened,
  gate_answered,
  done,
  failed,
  cancelled
};
const char* to_string(RunEventKind kind);  // the enumerator's name: "node_finished", …
template <>
struct EnumCount<RunEventKind> {
  static constexpr int value = 10;
};
// The least verbosity that records events of this kind.
Verbosity event_level(RunEventKind kind);
// done, failed and cancelled: the run has ended.
bool is_final(RunEventKind kind);

struct RunEvent {
  std::string run;
  uint64_t seq = 0;  // 1, 2, … within the run
  int64_t t_ns = 0;  // now_ns()
  RunEventKind kind = RunEventKind::started;
  Json data = empty_object();
};

struct NodeTiming {
  size_t index = 0;  // in the trace
  std::string node;
  int64_t start_ns = 0, end_ns = 0;                               // see GraphObserver
  int64_t lm_ns = 0, queue_ns = 0, generate_ns = 0, deps_ns = 0;  // parts of it
  LMTokens tokens;
};

struct DepTiming {
  std::string dep;
  int64_t start_ns = 0, end_ns = 0;
  std::string error;  // empty: it gave a value
};

// An open gate: the run waits for a human to answer `question` with a value of `schema`.
struct GateInfo {
  std::string id;  // <run>.<k>, k counting the run's gates from 1
  std::string run, node, field, question;
  Json schema;
  int64_t opened_ns = 0;
};

struct RunSnapshot {
  std::string id;
  RunKind kind = RunKind::graph;
  std::string name;  // the graph's or the chain's
  RunState state = RunState::pending;
  std::string node;   // current node
  std::string error;  // FAILED, CANCELLED
  Json input;
  std::vector<TraceEntry> trace;  // so far, or complete
  std::optional<TraceEntry> terminal;
  std::vector<NodeTiming> nodes;
  std::vector<DepTiming> deps;
  LMTokens tokens;
  int64_t submitted_ns = 0, started_ns = 0, finished_ns = 0;
  std::vector<GateInfo> gates;  // open
  std::vector<int> processes;   // process groups of its running `exec` deps
  Json progress;                // chain runs: rows done and total, counts per node, output folder
  std::string file_sha256;      // graph runs: the graph file's hash when the run started
  std::string forked_from;      // a fork: the run it was forked from, at node `forked_at`
  int64_t forked_at = -1;
};

// The JSON of a snapshot, an event and an open gate: what the HTTP API answers and the store keeps.
Json to_json(const RunSnapshot& run);
Json to_json(const RunEvent& event);
Json to_json(const GateInfo& gate);

struct RegistryOptions {
  size_t history = 20;           // finished runs kept in memory
  size_t blocking_threads = 4;   // for blocking dep functions
  size_t chain_threads = 2;      // chain runs at once
  std::string store;             // the SQLite file of runs (e.g. state_dir/runs.sqlite); empty: none
  size_t retention = 10000;      // runs kept in the store
  uint64_t max_store_bytes = 0;  // the store's pages in use bounded (oldest finished runs go); 0: none
  // A store of the caller's making instead (skein::cluster::PgRunStore: PostgreSQL), shared with
  // the registry; `retention` and `max_store_bytes` are then the store's own.
  std::shared_ptr<RunStore> shared_store;
  // Graph runs' spool folders (<spool>/<run>); empty: "spool" beside `store`. Only with a store.
  std::string spool;
  // How long the loop polls for work after its last handler before it sleeps: a run submitted (a
  // gate answered, a cancel) meanwhile starts without waking a sleeping thread (20-35 us on a VM).
  // Costs up to this much of one core after each burst of work (work arriving more often than this
  // keeps the core busy; the spin offers it to any thread waiting for it); 0, or a loop thread
  // allowed one CPU by its affinity: none.
  std::chrono::microseconds loop_spin{50};
};

// One graph run to submit.
struct GraphJob {
  std::shared_ptr<const Graph> graph;
  Json input;
  GraphLM* lm = nullptr;  // shared by runs; must outlive them
  Verbosity verbosity = Verbosity::normal;
  std::optional<std::chrono::milliseconds> gate_timeout;  // a gate unanswered this long fails the run
  DepCache dep_cache;
  std::map<std::string, std::function<std::string(const TraceEntry&)>> handlers;
  std::map<std::string, std::function<void(const TraceEntry&)>> effects;
};

// One chain run to submit: it runs on a thread of its own (chain_threads at once), writes its run
// folder as `skein run` does, and a cancel ends it "cancelled" at its last checkpoint (resumable).
struct ChainJob {
  std::shared_ptr<const Chain> chain;
  RunOptions options;  // input, output folder, …; on_progress and stop are the registry's
  Verbosity verbosity = Verbosity::normal;
  std::string resumes;  // the run this one resumes (see RunRegistry::resume), shown in its input
};

class RunRegistry {
 public:
  explicit RunRegistry(RegistryOptions options = {});
  ~RunRegistry();  // cancels the active runs and waits for them to end
  RunRegistry(const RunRegistry&) = delete;
  RunRegistry& operator=(const RunRegistry&) = delete;

  // Registers the run and returns its id at once; the run starts on the loop.
  std::string submit(GraphJob job);
  // A chain run: id c<n>.
  std::string submit(ChainJob job);
  // Resumes chain run `id` (CRASHED, CANCELLED or FAILED; in memory or in the store) from its
  // folder's last checkpoint as a new run over the same input and folder; `job` gives the chain
  // (of the same name) and the other options. Throws NotFoundError for an unknown run,
  // FailedPreconditionError saying why a run cannot be resumed (a graph run: see the overload; a
  // DONE or active run has nothing to resume) and InvalidArgumentError for a chain of another name.
  std::string resume(const std::string& id, ChainJob job);
  // Resumes graph run `id` (CRASHED, CANCELLED or FAILED; in memory or in the store) from its last
  // checkpoint (the trace stored node by node), keeping its id, trace, timings and events. Nothing
  // its ledger holds is asked again (LM replies, dep values, gate answers; see RunLedger), and a
  // gate that was open reopens with the same id. `job` gives the graph (of the same name) and the
  // LM; its input is unused. Throws NotFoundError, FailedPreconditionError (not resumable; the graph
  // changed so that the checkpoint no longer fits, saying what differs; another host resumed it
  // first) and InvalidArgumentError (another graph). With a store it blocks for one small write
  // transaction, like submit.
  std::string resume(const std::string& id, GraphJob job);
  // Resumes many graph runs at once (after a restart: every run crashed() lists), each as resume()
  // would, but reading the store first and taking the runs over in one write transaction, not one
  // per run. `job_for` gives a run's job (graph and LM) from its snapshot, on this thread; it may
  // throw to leave a run alone. Returns, for each run not resumed, why (empty: all were). Blocks
  // like resume(): not for a loop thread.
  std::map<std::string, std::string> resume_all(const std::vector<std::string>& ids,
                                                const std::function<GraphJob(const RunSnapshot&)>& job_for);
  // A new graph run whose trace is run `id`'s nodes 0..at, node `at` with `fields` replacing some
  // of its values (checked against its type), going on from there: nothing is asked for the nodes
  // kept, and the deps resolved by node `at` come from the source's ledger. The fork records its
  // parent (RunSnapshot::forked_from, forked_at). Throws NotFoundError, InvalidArgumentError (a
  // node out of range, a field the node lacks, another graph) and InvalidValueError (a value not
  // of its field's type).
  std::string fork(const std::string& id, size_t at, Json fields, GraphJob job);

  // A run in memory, else in the store.
  std::optional<RunSnapshot> get(const std::string& id) const;
  std::vector<RunSnapshot> list() const;  // in memory, in submission order
  // The latest `stored` runs of the store not in memory (other hosts' runs, this host's beyond its
  // history), oldest first, then list(). Without a store, or when it cannot be read, list(). Blocks
  // for one read of the store.
  std::vector<RunSnapshot> list_with_store(size_t stored) const;
  std::vector<RunEvent> events(const std::string& id) const;

  // The runs the store held unfinished when it was opened (a process died): now CRASHED.
  std::vector<std::string> crashed() const;
  // Waits until the store has everything recorded so far.
  void flush_store();

  // Cooperative: reaches in-flight generation and open gates, and kills the process groups of its
  // running `exec` deps; the run ends CANCELLED. False for an unknown or finished run.
  bool cancel(const std::string& id);
  // For a run that ignores cancellation (a blocking dep): CANCELLED now; what it still does is
  // dropped.
  bool terminate(const std::string& id);

  std::vector<GateInfo> gates() const;
  size_t pending_gates() const;
  // Answers an open gate. Throws NotFoundError for a gate that never was, FailedPreconditionError
  // for one answered or closed already, and InvalidValueError with the type's reason for a value
  // that does not fit the field's type (the gate stays open).
  void answer(const std::string& gate_id, Json value);

  // Called with every event recorded by any run, on the loop thread, never under a lock.
  void subscribe(std::function<void(const RunEvent&)> listener);

  // Waits until `done(run)` holds for run `id`, up to `timeout`: true once it held after a change of
  // the run (a state the run passed through counts, even if it has moved on), false at the timeout.
  // `done` is checked at every change of the run, under the registry's lock, by the thread that
  // changed it (often the loop), and only a change after which it holds wakes the caller: keep it
  // short and thread-safe, and do not call the registry from it. What it throws is thrown here. A
  // run not in memory (unknown, forgotten past `history`, only in the store) waits out `timeout`.
  bool wait_until(const std::string& id, const std::function<bool(const RunSnapshot&)>& done,
                  std::chrono::milliseconds timeout) const;

  boost::asio::any_io_executor executor() const;

  struct Impl;  // opaque

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace skein
