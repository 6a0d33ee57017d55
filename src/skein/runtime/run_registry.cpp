// The run registry: runs as coroutines on one loop thread, their state mirrored under one mutex for
// readers on other threads (the shell, the server).
#include "skein/run_registry.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <mutex>
#include <thread>

#include "run.hpp"
#include "run_store.hpp"
#include "skein/engine.hpp"

namespace skein {

namespace asio = boost::asio;
using runtime::OpenGate;
using runtime::Run;

struct RunRegistry::Impl {
  explicit Impl(RegistryOptions o)
      : options(o),
        store(o.store.empty() ? nullptr : std::make_unique<runtime::RunStore>(o.store, o.retention)),
        graphs(store ? store->highest('g') : 0),
        chains(store ? store->highest('c') : 0),
        work(asio::make_work_guard(io)),
        pool(o.blocking_threads),
        chain_pool(o.chain_threads),
        loop([this] { io.run(); }) {}

  RegistryOptions options;
  std::unique_ptr<runtime::RunStore> store;
  uint64_t graphs = 0, chains = 0;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::thread_pool pool;
  asio::thread_pool chain_pool;
  std::thread loop;

  mutable std::mutex mu;
  mutable std::condition_variable changed;
  std::map<std::string, std::shared_ptr<Run>> runs;
  std::vector<std::string> order;  // submission order of the runs kept
  std::deque<std::string> finished;
  std::vector<std::function<void(const RunEvent&)>> listeners;

  // Under `mu`: appends an event to the run when its verbosity takes it; dispatch() it after.
  std::optional<RunEvent> record(Run& run, const std::string& kind, Json data) {
    if (run.job.verbosity == Verbosity::silent || runtime::event_level(kind) > run.job.verbosity) return std::nullopt;
    run.events.push_back(RunEvent{run.snap.id, run.events.size() + 1, now_ns(), kind, std::move(data)});
    return run.events.back();
  }

  // Not under `mu`: the event to the store, and to the listeners on the loop.
  void dispatch(RunEvent ev) {
    if (store) store->put(ev);
    std::vector<std::function<void(const RunEvent&)>> to_call;
    {
      std::lock_guard l(mu);
      to_call = listeners;
    }
    if (!to_call.empty())
      asio::post(io, [to_call = std::move(to_call), ev = std::move(ev)] {
        for (const auto& f : to_call) f(ev);
      });
  }

  void emit(Run& run, const std::string& kind, Json data = Json::object()) {
    std::optional<RunEvent> ev;
    {
      std::lock_guard l(mu);
      ev = record(run, kind, std::move(data));
    }
    if (ev) dispatch(std::move(*ev));
  }

  // The run's record in the store, as it is now.
  void persist(const Run& run) {
    if (!store) return;
    std::unique_lock l(mu);
    RunSnapshot s = run.snapshot();
    l.unlock();
    store->put(s);
  }

  void emit_lm_calls(Run& run, const std::vector<LMTiming>& calls) {
    for (const auto& c : calls)
      emit(run, "lm_call",
           {{"call", c.call},
            {"node", c.node},
            {"ms", double(c.end_ns - c.start_ns) / 1e6},
            {"generated_tokens", c.tokens.generated}});
  }

  template <typename F>
  void update(F&& f) {
    {
      std::lock_guard l(mu);
      f();
    }
    changed.notify_all();
  }

  GraphRunOptions options_for(const std::shared_ptr<Run>& run);
  asio::awaitable<GraphResult> drive(std::shared_ptr<Run> run);
  asio::awaitable<Json> open_gates(std::shared_ptr<Run> run, const NodeType& node, std::vector<const Field*> fields);
  void finish(const std::shared_ptr<Run>& run, std::exception_ptr e, GraphResult r);
  void run_chain_job(const std::shared_ptr<Run>& run);
  void end(const std::shared_ptr<Run>& run, RunState state, const std::string& error);
  void forget_beyond_history();
};

namespace {

// Sees one run through the run loop's hooks: current node, per-node and per-dep timing.
class RunObserver : public GraphObserver {
 public:
  RunObserver(RunRegistry::Impl& reg, Run& run) : reg_(reg), run_(run) {}

  void node_entered(const std::string& type) override {
    reg_.update([&] { run_.snap.node = type; });
    reg_.emit(run_, "node_started", {{"node", type}});
  }

  void node_done(size_t index, const TraceEntry& entry, int64_t start_ns, int64_t end_ns) override {
    NodeTiming t;
    t.index = index;
    t.node = entry.type;
    t.start_ns = start_ns;
    t.end_ns = end_ns;
    const auto calls = run_.timing->timings_since(run_.lm_calls_seen);  // this node's
    for (const auto& c : calls) {
      t.lm_ns += c.end_ns - c.start_ns;
      t.queue_ns += c.queue_ns;
      t.generate_ns += c.generate_ns;
      t.tokens += c.tokens;
    }
    reg_.update([&] {
      run_.lm_calls_seen += calls.size();
      t.deps_ns = std::exchange(run_.deps_ns_pending, 0);
      run_.snap.node = entry.type;
      run_.snap.trace.push_back(entry);
      run_.snap.nodes.push_back(t);
      run_.snap.tokens += t.tokens;
    });
    reg_.persist(run_);
    reg_.emit_lm_calls(run_, calls);
    reg_.emit(run_, "node_finished", {{"index", index}, {"node", entry.type}, {"ms", double(end_ns - start_ns) / 1e6}});
  }

  void dep_done(const std::string& name, int64_t start_ns, int64_t end_ns, const std::string& error) override {
    reg_.update([&] {
      run_.snap.deps.push_back(DepTiming{name, start_ns, end_ns, error});
      run_.deps_ns_pending += end_ns - start_ns;
    });
    reg_.emit(run_, "dep_finished", {{"dep", name}, {"ms", double(end_ns - start_ns) / 1e6}, {"error", error}});
  }

 private:
  RunRegistry::Impl& reg_;
  Run& run_;
};

}  // namespace

GraphRunOptions RunRegistry::Impl::options_for(const std::shared_ptr<Run>& run) {
  GraphRunOptions o;
  o.lm = run->timing.get();
  o.dep_cache = run->job.dep_cache;
  o.handlers = run->job.handlers;
  o.effects = run->job.effects;
  o.blocking = pool.get_executor();
  o.on_process = [this, run](int group, bool running) {
    bool kill_now = false;
    update([&] {
      if (running) {
        run->groups.insert(group);
        kill_now = run->cancel_requested;
      } else {
        run->groups.erase(group);
      }
    });
    if (kill_now) ::kill(-group, SIGKILL);
  };
  o.answer_gates = [this, run](const NodeType& node, const std::vector<const Field*>& fields, const Json&) {
    return open_gates(run, node, fields);
  };
  return o;
}

asio::awaitable<GraphResult> RunRegistry::Impl::drive(std::shared_ptr<Run> run) {
  update([&] {
    run->snap.state = RunState::running;
    run->snap.started_ns = now_ns();
  });
  persist(*run);
  emit(*run, "started", {{"graph", run->snap.name}});
  RunObserver observer(*this, *run);
  GraphRunOptions o = options_for(run);
  o.observer = &observer;
  co_return co_await run_graph(*run->job.graph, std::move(run->job.input), std::move(o));  // snap has a copy
}

// Opens a gate per field, puts the run in WAITING and waits until every one is answered (answer()
// wakes the timer), the gate timeout passes or the run is cancelled.
asio::awaitable<Json> RunRegistry::Impl::open_gates(std::shared_ptr<Run> run, const NodeType& node,
                                                    std::vector<const Field*> fields) {
  auto timer = std::make_shared<asio::steady_timer>(io, asio::steady_timer::time_point::max());
  if (run->job.gate_timeout) timer->expires_after(*run->job.gate_timeout);
  run->gate_timer = timer;
  std::vector<std::string> ids;
  std::vector<RunEvent> opened;
  update([&] {  // the gates, WAITING and their events at once: nobody answers a gate not yet announced
    for (const Field* f : fields) {
      GateInfo g{run->snap.id + "." + std::to_string(++run->gates_opened),
                 run->snap.id,
                 node.name,
                 f->name,
                 f->gate,
                 Json(),  // filled from the type when shown (a parked run keeps no copy)
                 now_ns()};
      ids.push_back(g.id);
      if (auto ev = record(*run, "gate_opened", {{"gate", g.id}, {"node", node.name}, {"field", f->name}}))
        opened.push_back(std::move(*ev));
      run->open[ids.back()] = OpenGate{std::move(g), f->type, std::nullopt};
    }
    run->snap.state = RunState::waiting;
  });
  for (auto& ev : opened) dispatch(std::move(ev));
  persist(*run);
  auto close = [&](RunState state) {
    update([&] {
      for (const auto& id : ids) run->open.erase(id);
      run->snap.state = state;
    });
    persist(*run);
    run->gate_timer.reset();
  };
  for (;;) {
    boost::system::error_code ec;
    try {
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    } catch (...) {  // cancelled before it could wait
      close(RunState::running);
      throw;
    }
    Json answers = Json::object();
    bool cancelled = false;
    {
      std::lock_guard l(mu);
      cancelled = run->cancel_requested;
      for (const auto& id : ids)
        if (const auto& g = run->open.at(id); g.answer) answers[g.info.field] = *g.answer;
    }
    if (answers.size() == ids.size()) {
      close(RunState::running);
      co_return answers;
    }
    if (cancelled) {
      close(RunState::running);
      throw Error("cancelled while waiting at a gate");
    }
    if (!ec) {
      close(RunState::running);
      throw Error("gate not answered within " + std::to_string(run->job.gate_timeout->count()) + " ms");
    }
  }
}

// The run's outcome: its events first, then the state readers wait on, so a reader that sees the
// run finished also sees its last event.
void RunRegistry::Impl::finish(const std::shared_ptr<Run>& run, std::exception_ptr e, GraphResult r) {
  bool cancelled;
  {
    std::lock_guard l(mu);
    if (run->terminated) return;  // already CANCELLED
    cancelled = run->cancel_requested;
  }
  std::string error;
  std::optional<std::vector<TraceEntry>> partial;
  if (e) try {
      std::rethrow_exception(e);
    } catch (const GraphError& g) {
      error = g.what();
      partial = g.trace();
    } catch (const std::exception& x) {
      error = x.what();
    }
  const RunState state = !e ? RunState::done : cancelled ? RunState::cancelled : RunState::failed;
  if (cancelled && e) error = "cancelled";
  emit_lm_calls(*run, run->timing->timings_since(run->lm_calls_seen));  // the final choice's
  emit(*run, state == RunState::done ? "done" : state == RunState::failed ? "failed" : "cancelled", {{"error", error}});
  update([&] {
    if (run->terminated) return;
    RunSnapshot& s = run->snap;
    s.finished_ns = now_ns();
    s.state = state;
    s.error = error;
    if (partial) s.trace = std::move(*partial);
    if (!e) {
      s.trace = std::move(r.trace);
      s.terminal = std::move(r.terminal);
      s.tokens = r.tokens;
    }
    run->open.clear();
    finished.push_back(s.id);
    forget_beyond_history();
  });
  persist(*run);
}

// A chain run on a chain thread: its progress mirrored, its end recorded like a graph run's.
void RunRegistry::Impl::run_chain_job(const std::shared_ptr<Run>& run) {
  if (run->stop->requested()) return end(run, RunState::cancelled, "cancelled");
  update([&] {
    run->snap.state = RunState::running;
    run->snap.started_ns = now_ns();
  });
  emit(*run, "started", {{"chain", run->snap.name}});
  persist(*run);
  RunOptions o = run->chain->options;
  o.stop = run->stop.get();
  o.on_progress = [this, run](const RunProgress& p) {
    Json nodes = Json::object();
    for (const auto& [id, c] : p.so_far.nodes) nodes[id] = {{"in", c.in}, {"out", c.out}, {"errors", c.errors}};
    Json progress{{"records_in", p.so_far.records_in}, {"records_out", p.so_far.records_out},
                  {"errors", p.so_far.errors},         {"rows_total", p.rows_total ? Json(*p.rows_total) : Json()},
                  {"seconds", p.elapsed_seconds},      {"output_dir", p.so_far.output_dir},
                  {"nodes", std::move(nodes)}};
    update([&] { run->snap.progress = std::move(progress); });
  };
  try {
    const RunSummary summary = run_chain(*run->chain->chain, o);
    end(run, summary.status == "done" ? RunState::done : RunState::cancelled, summary.error);
  } catch (const std::exception& e) {
    end(run, RunState::failed, e.what());
  }
}

// A chain run's end: its event, then its state.
void RunRegistry::Impl::end(const std::shared_ptr<Run>& run, RunState state, const std::string& error) {
  {
    std::lock_guard l(mu);
    if (run->terminated) return;
  }
  emit(*run, state == RunState::done ? "done" : state == RunState::failed ? "failed" : "cancelled", {{"error", error}});
  update([&] {
    run->snap.state = state;
    run->snap.error = error;
    run->snap.finished_ns = now_ns();
    finished.push_back(run->snap.id);
    forget_beyond_history();
  });
  persist(*run);
}

void RunRegistry::Impl::forget_beyond_history() {
  while (finished.size() > options.history) {
    runs.erase(finished.front());
    std::erase(order, finished.front());
    finished.pop_front();
  }
}

RunRegistry::RunRegistry(RegistryOptions options) : impl_(std::make_shared<Impl>(options)) {}

std::string RunRegistry::submit(ChainJob job) {
  if (!job.chain) throw Error("a chain job needs a chain");
  auto run = std::make_shared<Run>();
  run->stop = std::make_unique<ChainStop>();
  run->snap.kind = "chain";
  run->snap.name = job.chain->name;
  run->snap.input = {{"input", job.options.input_path}, {"output", job.options.output_dir}};
  run->snap.submitted_ns = now_ns();
  run->job.verbosity = job.verbosity;
  run->chain = std::move(job);
  impl_->update([&] {
    run->snap.id = "c" + std::to_string(++impl_->chains);
    impl_->runs[run->snap.id] = run;
    impl_->order.push_back(run->snap.id);
  });
  impl_->persist(*run);
  Impl* impl = impl_.get();
  asio::post(impl->chain_pool, [impl, run] { impl->run_chain_job(run); });
  return run->snap.id;
}

RunRegistry::~RunRegistry() {
  std::vector<std::string> active;
  {
    std::lock_guard l(impl_->mu);
    for (const auto& [id, run] : impl_->runs)
      if (!is_finished(run->snap.state)) active.push_back(id);
  }
  for (const auto& id : active) cancel(id);
  impl_->chain_pool.join();
  impl_->work.reset();
  impl_->loop.join();
  impl_->pool.join();
}

std::string RunRegistry::submit(GraphJob job) {
  if (!job.graph || !job.lm) throw Error("a graph job needs a graph and an LM");
  auto run = std::make_shared<Run>();
  run->timing = std::make_unique<TimingLM>(*job.lm);
  run->snap.kind = "graph";
  run->snap.name = job.graph->name;
  run->snap.input = job.input;
  run->snap.submitted_ns = now_ns();
  run->snap.node = job.graph->start;
  run->job = std::move(job);
  impl_->update([&] {
    run->snap.id = "g" + std::to_string(++impl_->graphs);
    impl_->runs[run->snap.id] = run;
    impl_->order.push_back(run->snap.id);
  });
  impl_->persist(*run);
  Impl* impl = impl_.get();
  asio::co_spawn(impl->io, impl->drive(run),
                 asio::bind_cancellation_slot(run->signal.slot(), [impl, run](std::exception_ptr e, GraphResult r) {
                   impl->finish(run, e, std::move(r));
                 }));
  return run->snap.id;
}

std::optional<RunSnapshot> RunRegistry::get(const std::string& id) const {
  {
    std::lock_guard l(impl_->mu);
    if (auto it = impl_->runs.find(id); it != impl_->runs.end()) return it->second->snapshot();
  }
  return impl_->store ? impl_->store->load(id) : std::nullopt;
}

std::vector<RunSnapshot> RunRegistry::list() const {
  std::lock_guard l(impl_->mu);
  std::vector<RunSnapshot> out;
  for (const auto& id : impl_->order) out.push_back(impl_->runs.at(id)->snapshot());
  return out;
}

std::vector<RunEvent> RunRegistry::events(const std::string& id) const {
  {
    std::lock_guard l(impl_->mu);
    if (auto it = impl_->runs.find(id); it != impl_->runs.end()) return it->second->events;
  }
  return impl_->store ? impl_->store->events(id) : std::vector<RunEvent>{};
}

std::vector<std::string> RunRegistry::crashed() const {
  return impl_->store ? impl_->store->crashed() : std::vector<std::string>{};
}

void RunRegistry::flush_store() {
  if (impl_->store) impl_->store->flush();
}

bool RunRegistry::cancel(const std::string& id) {
  std::shared_ptr<Run> run;
  std::vector<int> groups;
  {
    std::lock_guard l(impl_->mu);
    auto it = impl_->runs.find(id);
    if (it == impl_->runs.end() || is_finished(it->second->snap.state)) return false;
    run = it->second;
    run->cancel_requested = true;
    groups.assign(run->groups.begin(), run->groups.end());
  }
  for (int g : groups) ::kill(-g, SIGKILL);  // the exec deps' whole process groups
  if (run->stop) run->stop->request();       // a chain run
  asio::post(impl_->io, [run] {
    run->signal.emit(asio::cancellation_type::terminal);
    if (run->gate_timer) run->gate_timer->cancel();
  });
  return true;
}

bool RunRegistry::terminate(const std::string& id) {
  std::shared_ptr<Run> run;
  {
    std::lock_guard l(impl_->mu);
    auto it = impl_->runs.find(id);
    if (it == impl_->runs.end() || is_finished(it->second->snap.state) || it->second->terminated) return false;
    run = it->second;
    run->terminated = true;  // whatever the run still does is dropped (finish() skips it)
  }
  cancel(id);
  impl_->emit(*run, "cancelled", {{"error", "terminated"}});
  impl_->update([&] {
    run->snap.state = RunState::cancelled;
    run->snap.error = "terminated";
    run->snap.finished_ns = now_ns();
    run->open.clear();
    impl_->finished.push_back(id);
    impl_->forget_beyond_history();
  });
  impl_->persist(*run);
  return true;
}

std::vector<GateInfo> RunRegistry::gates() const {
  std::lock_guard l(impl_->mu);
  std::vector<GateInfo> out;
  for (const auto& id : impl_->order)
    for (const auto& [gid, g] : impl_->runs.at(id)->open)
      if (!g.answer) out.push_back(g.shown());
  return out;
}

size_t RunRegistry::pending_gates() const {
  std::lock_guard l(impl_->mu);
  size_t n = 0;
  for (const auto& [id, run] : impl_->runs)
    for (const auto& [gid, g] : run->open) n += !g.answer;
  return n;
}

void RunRegistry::answer(const std::string& gate_id, Json value) {
  std::shared_ptr<Run> run;
  bool all_answered = true;
  std::optional<RunEvent> answered;
  {
    std::lock_guard l(impl_->mu);
    auto it = impl_->runs.find(gate_id.substr(0, gate_id.find('.')));
    if (it == impl_->runs.end() || !it->second->open.count(gate_id) || it->second->open.at(gate_id).answer)
      throw Error("no open gate " + gate_id);
    run = it->second;
    OpenGate& g = run->open.at(gate_id);
    if (g.type) {
      std::string reason;
      for (const auto& e : g.type->validate(value)) reason += (reason.empty() ? "" : "; ") + e;
      if (!reason.empty()) throw Error("answer to " + gate_id + " refused: " + reason);
    }
    g.answer = std::move(value);
    for (const auto& [id, other] : run->open) all_answered = all_answered && other.answer.has_value();
    answered = impl_->record(*run, "gate_answered", {{"gate", gate_id}});
  }
  impl_->changed.notify_all();
  if (answered) impl_->dispatch(std::move(*answered));
  if (all_answered)
    asio::post(impl_->io, [run] {
      if (run->gate_timer) run->gate_timer->cancel();
    });
}

void RunRegistry::subscribe(std::function<void(const RunEvent&)> listener) {
  std::lock_guard l(impl_->mu);
  impl_->listeners.push_back(std::move(listener));
}

bool RunRegistry::wait_until(const std::string& id, const std::function<bool(const RunSnapshot&)>& done,
                             std::chrono::milliseconds timeout) const {
  std::unique_lock l(impl_->mu);
  return impl_->changed.wait_for(l, timeout, [&] {
    auto it = impl_->runs.find(id);
    return it != impl_->runs.end() && done(it->second->snapshot());
  });
}

asio::any_io_executor RunRegistry::executor() const { return impl_->io.get_executor(); }

}  // namespace skein
