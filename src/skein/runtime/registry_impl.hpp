// The run registry's insides, shared by its files: run_registry.cpp (graph runs, queries, cancel),
// gates.cpp (opening and answering gates) and chain_runs.cpp (chain runs on chain threads).
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "run.hpp"
#include "skein/engine.hpp"
#include "skein/mutex.hpp"
#include "skein/run_registry.hpp"
#include "sqlite_run_store.hpp"
#include "util/spin_run.hpp"

namespace skein {

namespace asio = boost::asio;
using runtime::OpenGate;
using runtime::Run;

struct RunRegistry::Impl {
  explicit Impl(RegistryOptions o)
      : options(o),
        store(open_store(o)),
        spool(store ? spool_of(o) : std::filesystem::path()),
        work(asio::make_work_guard(io)),
        pool(o.blocking_threads),
        chain_pool(o.chain_threads),
        loop([this] { spin_run(io, options.loop_spin); }) {}

  RegistryOptions options;
  std::shared_ptr<RunStore> store;
  std::filesystem::path spool;                   // graph runs' spools: <spool>/<run>
  std::atomic<uint64_t> graphs = 0, chains = 0;  // without a store

  static std::shared_ptr<RunStore> open_store(const RegistryOptions& o) {
    if (o.shared_store) return o.shared_store;
    if (o.store.empty()) return nullptr;
    return std::make_shared<runtime::SqliteRunStore>(o.store, o.retention, o.max_store_bytes);
  }

  // Graph runs' spools with a store: the caller's folder, else "spool" beside the SQLite file.
  static std::filesystem::path spool_of(const RegistryOptions& o) {
    if (!o.spool.empty()) return o.spool;
    return o.store.empty() ? std::filesystem::path() : std::filesystem::path(o.store).parent_path() / "spool";
  }

  // The run's ledger (see run_ledger.hpp), knowing `known` already.
  void open_ledger(Run& run, std::map<LedgerKey, Json> known = {}) {
    const std::string& id = run.snap.id;
    run.ledger.emplace(store.get(), id, spool.empty() ? spool : spool / id, std::move(known));
  }

  // A new run id: from the store (unique across its hosts), else counted here.
  std::string allocate_id(RunKind kind) {
    if (store) return store->allocate_id(kind);
    return runtime::run_id(kind, ++(kind == RunKind::graph ? graphs : chains));
  }
  asio::io_context io{1};  // run by `loop` alone: its own posts skip the queue's lock
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::thread_pool pool;
  asio::thread_pool chain_pool;
  std::thread loop;

  // Guards the runs kept and each Run's members (see run.hpp), the orders and the listeners. The
  // analysis checks the members annotated here; a Run's are checked by reading.
  mutable Mutex mu;
  std::map<std::string, std::shared_ptr<Run>> runs SKEIN_GUARDED_BY(mu);
  // The runs kept in submission order, by Run::order_key: a run forgotten leaves in O(log n).
  std::map<uint64_t, std::string> order SKEIN_GUARDED_BY(mu);
  uint64_t order_keys SKEIN_GUARDED_BY(mu) = 0;
  // A thread in wait_until, woken by the change of its run after which its condition holds.
  struct Waiter {
    const std::function<bool(const RunSnapshot&)>* done = nullptr;
    std::condition_variable woken;
    bool held = false;           // `done` held after a change of the run
    std::exception_ptr failure;  // what `done` threw at a change
  };
  std::multimap<std::string, Waiter*> waiters SKEIN_GUARDED_BY(mu);  // by run id
  std::deque<std::string> finished SKEIN_GUARDED_BY(mu);
  // Replaced whole by subscribe() (never changed in place): an event takes a reference, not a copy.
  using Listeners = std::vector<std::function<void(const RunEvent&)>>;
  std::shared_ptr<const Listeners> listeners SKEIN_GUARDED_BY(mu);
  // The loop thread's alone: the LM calls of the node a run has just produced, taken from its
  // TimingLM (one buffer for every run: a node's calls allocate nothing once it has grown).
  std::vector<LMTiming> lm_calls;

  // Whether the run's verbosity takes events of `kind` (its job does not change once submitted);
  // a silent run takes none, as no event's level is silent.
  static bool wants(const Run& run, RunEventKind kind) { return event_level(kind) <= run.job.verbosity; }

  // Under `mu`: appends an event to the run when its verbosity takes it (else null); dispatch()
  // it after. The run and the listeners share the one event.
  runtime::EventPtr record(Run& run, RunEventKind kind, Json data) SKEIN_REQUIRES(mu) {
    if (!wants(run, kind)) return nullptr;
    if (run.events.empty()) run.events.reserve(8);  // a short run's events, without regrowth
    run.events.push_back(
        runtime::make_event(RunEvent{run.snap.id, run.events.size() + 1, now_ns(), kind, std::move(data)}));
    return run.events.back();
  }

  // Not under `mu`: the event to the store, and to `to_call` (the listeners when it was recorded)
  // on the loop.
  void dispatch(runtime::EventPtr ev, std::shared_ptr<const Listeners> to_call) {
    if (store) store->put(*ev);
    if (to_call)
      asio::post(io, [to_call = std::move(to_call), ev = std::move(ev)] {
        for (const auto& f : *to_call) f(*ev);
      });
  }
  void dispatch(runtime::EventPtr ev) SKEIN_EXCLUDES(mu) {
    std::shared_ptr<const Listeners> to_call;
    {
      MutexLock l(mu);
      to_call = listeners;
    }
    dispatch(std::move(ev), std::move(to_call));
  }

  void emit(Run& run, RunEventKind kind, Json data = empty_object()) {
    runtime::EventPtr ev;
    std::shared_ptr<const Listeners> to_call;
    {
      MutexLock l(mu);
      ev = record(run, kind, std::move(data));
      if (ev) to_call = listeners;
    }
    if (ev) dispatch(std::move(ev), std::move(to_call));
  }

  // The run's record in the store: its head as it is now (unless `steps_only`), and its steps new
  // since the last record (all of them with `all`, when they may have been replaced).
  void persist(Run& run, bool all = false, bool steps_only = false) {
    if (!store) return;
    StoredRun r;
    {
      MutexLock l(mu);
      r = record_of(run, all, steps_only);
    }
    store->put(std::move(r));
  }

  // Under `mu`: the run's record for the store (see persist).
  StoredRun record_of(Run& run, bool all, bool steps_only = false) SKEIN_REQUIRES(mu) {
    StoredRun r;
    r.steps_only = steps_only;
    {
      RunSnapshot& s = run.snap;
      if (steps_only) {
        r.head.id = s.id, r.head.kind = s.kind, r.head.state = s.state;
      } else {
        auto trace = std::move(s.trace);  // set aside: the head is copied without its steps
        auto nodes = std::move(s.nodes);
        auto deps = std::move(s.deps);
        r.head = run.snapshot();
        s.trace = std::move(trace), s.nodes = std::move(nodes), s.deps = std::move(deps);
      }
      auto& done = run.stored;
      r.all = all || s.trace.size() < done.trace || s.nodes.size() < done.nodes || s.deps.size() < done.deps;
      if (r.all) done = {};
      r.trace_from = done.trace, r.nodes_from = done.nodes, r.deps_from = done.deps;
      r.trace.assign(s.trace.begin() + done.trace, s.trace.end());
      r.nodes.assign(s.nodes.begin() + done.nodes, s.nodes.end());
      r.deps.assign(s.deps.begin() + done.deps, s.deps.end());
      done = {s.trace.size(), s.nodes.size(), s.deps.size()};
    }
    return r;
  }

  // A run's events, from memory or the store.
  std::vector<RunEvent> events_of(const std::string& id) {
    {
      MutexLock l(mu);
      if (auto it = runs.find(id); it != runs.end()) return runtime::events_of(*it->second);
    }
    return store ? store->events(id) : std::vector<RunEvent>{};
  }

  // An event whose data is made only when the run's verbosity takes it (hot paths).
  template <typename Make>
  void emit_if_wanted(Run& run, RunEventKind kind, Make&& make) {
    if (wants(run, kind)) emit(run, kind, make());
  }

  void emit_lm_calls(Run& run, const std::vector<LMTiming>& calls) {
    if (!wants(run, RunEventKind::lm_call)) return;
    for (const auto& c : calls)
      emit(run, RunEventKind::lm_call,
           json_object("call", to_string(c.call), "node", c.node, "ms", double(c.end_ns - c.start_ns) / 1e6,
                       "generated_tokens", c.tokens.generated));
  }

  // Runs `f`, a change of `run`, under `mu` (a lambda touching what mu guards says so:
  // `[&]() SKEIN_REQUIRES(mu) {…}`), then wakes the readers waiting on that run (wait_until) whose
  // condition now holds.
  template <typename F>
  void update(const Run& run, F&& f) SKEIN_EXCLUDES(mu) {
    MutexLock l(mu);
    f();
    wake_waiters(run);
  }

  // Wakes the threads in wait_until on `run` whose condition holds, and only them: a thread
  // waiting for a run's end is not woken (on a busy core: the loop's core taken) at its every node.
  // A condition that throws wakes its thread, which throws it. Woken under `mu`: a waiter cannot
  // leave before the call.
  void wake_waiters(const Run& run) SKEIN_REQUIRES(mu) {
    auto [it, end] = waiters.equal_range(run.snap.id);
    if (it == end) return;
    // A run replaced under its id (resumed) may still change (a deaf dep returning after a
    // terminate): what it does is not the kept run's. (A run just forgotten still wakes them.)
    if (auto kept = runs.find(run.snap.id); kept != runs.end() && kept->second.get() != &run) return;
    for (; it != end; ++it) {
      Waiter& w = *it->second;
      if (w.held || w.failure) continue;  // woken already
      try {
        w.held = run.test(*w.done);
      } catch (...) {
        w.failure = std::current_exception();
      }
      if (w.held || w.failure) w.woken.notify_one();
    }
  }

  GraphRunOptions options_for(const std::shared_ptr<Run>& run);
  // A run kept in memory (replacing a finished run of its id; throws when that one is active), and
  // its readers woken.
  void keep(const std::shared_ptr<Run>& run) SKEIN_EXCLUDES(mu);
  // A graph run kept (see keep), recorded (with all its steps
  // replacing the stored ones if `rewrite`) and started on the loop.
  void admit(const std::shared_ptr<Run>& run, bool rewrite = false);
  void start(const std::shared_ptr<Run>& run);
  asio::awaitable<Json> open_gates(std::shared_ptr<Run> run, const NodeType& node, std::vector<const Field*> fields);
  void finish(const std::shared_ptr<Run>& run, std::exception_ptr e, GraphResult r);
  void run_chain_job(const std::shared_ptr<Run>& run);
  // A run's end: its event first, then the state readers wait on (a reader that sees the run
  // finished also sees its last event), then the store. `also` completes the snapshot and says
  // whether it replaced steps already stored (then all are stored again). Nothing for a terminated
  // run, except from terminate() itself.
  void end(const std::shared_ptr<Run>& run, RunState state, const std::string& error,
           const std::function<bool(RunSnapshot&)>& also = {}, bool terminating = false);
  // The finished runs beyond options.history taken out; the caller lets go of them once `mu` is
  // released (a run's destruction is not done under the lock every reader takes).
  std::vector<std::shared_ptr<Run>> forget_beyond_history() SKEIN_REQUIRES(mu);
  // Resuming a graph run (graph_resume.cpp): what it resumes from, checked against the job that
  // job_for gives (into `job`); then the run admitted under its id.
  struct Resumable;
  Resumable resumable(const std::string& id, const std::function<GraphJob(const RunSnapshot&)>& job_for, GraphJob& job);
  void resume_from(Resumable r, GraphJob job);
  void tidy_spool();  // on the pool
};

}  // namespace skein
