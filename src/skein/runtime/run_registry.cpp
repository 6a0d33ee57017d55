// The run registry: runs as coroutines on one loop thread, their state mirrored under one mutex for
// readers on other threads (the shell, the server).
#include "skein/run_registry.hpp"

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <csignal>
#include <unordered_set>

#include "engine/process/subprocess.hpp"
#include "registry_impl.hpp"
#include "run_observer.hpp"

namespace skein {

GraphRunOptions RunRegistry::Impl::options_for(const std::shared_ptr<Run>& run) {
  GraphRunOptions o;
  o.lm = &*run->timing;
  o.dep_cache = run->job.dep_cache;
  o.handlers = run->job.handlers;
  o.effects = run->job.effects;
  o.blocking = pool.get_executor();
  o.on_process = [this, run](int group, bool running) {
    bool kill_now = false;
    update(*run, [&]() SKEIN_REQUIRES(mu) {
      if (running) {
        run->groups.insert(group);
        kill_now = run->cancel_requested;
      } else {
        run->groups.erase(group);
      }
    });
    if (kill_now) kill_group(group, SIGKILL);
  };
  // Called by the run's coroutine alone, which the run outlives: a plain pointer (no allocation).
  o.answer_gates = [this, r = run.get()](const NodeType& node, const std::vector<const Field*>& fields, const Json&) {
    return open_gates(r->shared_from_this(), node, fields);
  };
  o.ledger = run->ledger ? &*run->ledger : nullptr;
  o.resume_trace = std::move(run->resume_trace);
  return o;
}

// On the loop: the run is RUNNING and its coroutine spawned (no wrapper frame: a parked run's memory
// is mostly its coroutine frames). A cancel posted after submit() reaches the bound slot.
void RunRegistry::Impl::start(const std::shared_ptr<Run>& run) {
  bool ended = false;  // terminated before it started
  update(*run, [&]() SKEIN_REQUIRES(mu) {
    ended = is_finished(run->snap.state);
    if (ended) return;
    run->snap.state = RunState::running;
    run->snap.started_ns = now_ns();
  });
  if (ended) return;
  persist(*run);
  emit_if_wanted(*run, RunEventKind::started,
                 [&] { return json_object("graph", run->snap.name, "resumed_at", run->resume_trace.size()); });
  run->observer = std::make_unique<RunObserver>(*this, *run);
  GraphRunOptions o = options_for(run);
  o.observer = run->observer.get();
  asio::co_spawn(io, run_graph(*run->job.graph, std::move(run->job.input), std::move(o)),  // snap has a copy
                 asio::bind_cancellation_slot(run->signal.slot(), [this, run](std::exception_ptr e, GraphResult r) {
                   finish(run, e, std::move(r));
                 }));
}

// A graph run's outcome, from its coroutine's completion.
void RunRegistry::Impl::finish(const std::shared_ptr<Run>& run, std::exception_ptr e, GraphResult r) {
  bool cancelled;
  {
    MutexLock l(mu);
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
  if (cancelled && e) error = "cancelled";
  run->timing->take(lm_calls);  // the final choice's
  emit_lm_calls(*run, lm_calls);
  end(run,
      !e          ? RunState::done
      : cancelled ? RunState::cancelled
                  : RunState::failed,
      error, [&](RunSnapshot& s) {
        // The run's last word on its trace; whether it differs from the steps already stored.
        auto take = [&](std::vector<TraceEntry> trace) {
          const size_t stored = run->stored.trace;
          const bool same =
              trace.size() >= stored && s.trace.size() >= stored &&
              std::equal(trace.begin(), trace.begin() + int64_t(stored), s.trace.begin(),
                         [](const auto& a, const auto& b) { return a.type == b.type && a.fields == b.fields; });
          s.trace = std::move(trace);
          return !same;
        };
        bool replaced = partial && take(std::move(*partial));
        if (e) return replaced;
        replaced = take(std::move(r.trace)) || replaced;
        s.terminal = std::move(r.terminal);
        s.tokens = r.tokens;
        s.tokens += run->tokens_before;
        return replaced;
      });
}

void RunRegistry::Impl::end(const std::shared_ptr<Run>& run, RunState state, const std::string& error,
                            const std::function<bool(RunSnapshot&)>& also, bool terminating) {
  {
    MutexLock l(mu);
    if (run->terminated && !terminating) return;
  }
  emit_if_wanted(*run,
                 state == RunState::done     ? RunEventKind::done
                 : state == RunState::failed ? RunEventKind::failed
                                             : RunEventKind::cancelled,
                 [&] { return json_object("error", error); });
  std::vector<std::shared_ptr<Run>> forgotten;  // destroyed after the lock is let go
  update(*run, [&]() SKEIN_REQUIRES(mu) {
    RunSnapshot& s = run->snap;
    if (is_finished(s.state)) return;
    s.state = state;
    s.error = error;
    s.finished_ns = now_ns();
    const bool replaced = also && also(s);
    run->open.clear();
    finished.push_back(s.id);
    forgotten = forget_beyond_history();
    // Queued before anyone sees it finished (a resume then finds its end in the store).
    if (store) store->put(record_of(*run, replaced));
  });
  if (state == RunState::done && run->ledger && !run->ledger->spool().empty())  // nothing to adopt any more
    asio::post(pool, [dir = run->ledger->spool()] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
}

std::vector<std::shared_ptr<Run>> RunRegistry::Impl::forget_beyond_history() {
  std::vector<std::shared_ptr<Run>> forgotten;
  while (finished.size() > options.history) {
    if (auto it = runs.find(finished.front()); it != runs.end()) {
      order.erase(it->second->order_key);
      forgotten.push_back(std::move(it->second));
      runs.erase(it);
    }
    finished.pop_front();
  }
  return forgotten;
}

RunRegistry::RunRegistry(RegistryOptions options) : impl_(std::make_shared<Impl>(options)) {
  if (impl_->store) asio::post(impl_->pool, [impl = impl_.get()] { impl->tidy_spool(); });
}

// The spools of runs that are DONE, or gone from the store for a while (retention deleted them; a
// run just submitted may not be stored yet), whose host died before removing them.
void RunRegistry::Impl::tidy_spool() {
  std::error_code ec;
  const auto hour_ago = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
  try {
    for (const auto& dir : std::filesystem::directory_iterator(spool, ec)) {
      const auto state = store->state(dir.path().filename().string());
      if (state ? *state == RunState::done : dir.last_write_time(ec) < hour_ago)
        std::filesystem::remove_all(dir.path(), ec);
    }
  } catch (const std::exception&) {  // the store cannot say now (busy, its database away): next start
  }
}

RunRegistry::~RunRegistry() {
  std::vector<std::string> active;
  {
    MutexLock l(impl_->mu);
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
  if (!job.graph || !job.lm) throw InvalidArgumentError("a graph job needs a graph and an LM");
  auto run = std::make_shared<Run>();
  run->timing.emplace(*job.lm);
  run->snap.kind = RunKind::graph;
  run->snap.name = job.graph->name;
  run->snap.input = job.input;
  run->snap.submitted_ns = now_ns();
  run->snap.node = job.graph->start;
  run->snap.file_sha256 = job.graph->file_sha256;
  run->job = std::move(job);
  run->snap.id = impl_->allocate_id(RunKind::graph);
  impl_->open_ledger(*run);
  impl_->admit(run);
  return run->snap.id;
}

void RunRegistry::Impl::keep(const std::shared_ptr<Run>& run) {
  const std::string& id = run->snap.id;
  update(*run, [&]() SKEIN_REQUIRES(mu) {
    if (auto it = runs.find(id); it == runs.end()) {
      run->order_key = ++order_keys;
      order.emplace(run->order_key, id);
    } else {  // a finished run resumed under its id, in its place
      if (!is_finished(it->second->snap.state))
        throw FailedPreconditionError(id + " is active: it was resumed already");
      run->order_key = it->second->order_key;
      std::erase(finished, id);
    }
    runs[id] = run;
  });
}

void RunRegistry::Impl::admit(const std::shared_ptr<Run>& run, bool rewrite) {
  keep(run);
  persist(*run, rewrite);
  asio::post(io, [this, run] { start(run); });
}

std::optional<RunSnapshot> RunRegistry::get(const std::string& id) const {
  {
    MutexLock l(impl_->mu);
    if (auto it = impl_->runs.find(id); it != impl_->runs.end()) return it->second->snapshot();
  }
  return impl_->store ? impl_->store->load(id) : std::nullopt;
}

std::vector<RunSnapshot> RunRegistry::list() const {
  MutexLock l(impl_->mu);
  std::vector<RunSnapshot> out;
  for (const auto& [key, id] : impl_->order) out.push_back(impl_->runs.at(id)->snapshot());
  return out;
}

std::vector<RunSnapshot> RunRegistry::list_with_store(size_t stored) const {
  std::vector<RunSnapshot> here = list();
  if (!impl_->store || stored == 0) return here;
  std::unordered_set<std::string> known;
  for (const auto& r : here) known.insert(r.id);
  std::vector<RunSnapshot> out;
  try {
    for (auto& r : impl_->store->recent(stored))
      if (!known.count(r.id)) out.push_back(std::move(r));
  } catch (const std::exception&) {  // the store cannot be read now (its database away): this host's runs
    return here;
  }
  std::reverse(out.begin(), out.end());  // oldest first, as list()
  out.insert(out.end(), std::make_move_iterator(here.begin()), std::make_move_iterator(here.end()));
  return out;
}

std::vector<RunEvent> RunRegistry::events(const std::string& id) const { return impl_->events_of(id); }

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
    MutexLock l(impl_->mu);
    auto it = impl_->runs.find(id);
    if (it == impl_->runs.end() || is_finished(it->second->snap.state)) return false;
    run = it->second;
    run->cancel_requested = true;
    groups.assign(run->groups.begin(), run->groups.end());
  }
  for (int g : groups) kill_group(g, SIGKILL);  // the exec deps' whole process groups
  if (run->stop) run->stop->request();          // a chain run
  asio::post(impl_->io, [run] {
    run->signal.emit(asio::cancellation_type::terminal);
    if (run->gate_timer) run->gate_timer->cancel();
  });
  return true;
}

bool RunRegistry::terminate(const std::string& id) {
  std::shared_ptr<Run> run;
  {
    MutexLock l(impl_->mu);
    auto it = impl_->runs.find(id);
    if (it == impl_->runs.end() || is_finished(it->second->snap.state) || it->second->terminated) return false;
    run = it->second;
    run->terminated = true;  // whatever the run still does is dropped (finish() skips it)
  }
  cancel(id);
  impl_->end(run, RunState::cancelled, "terminated", {}, true);
  return true;
}

void RunRegistry::subscribe(std::function<void(const RunEvent&)> listener) {
  MutexLock l(impl_->mu);
  auto more = std::make_shared<Impl::Listeners>(impl_->listeners ? *impl_->listeners : Impl::Listeners{});
  more->push_back(std::move(listener));
  impl_->listeners = std::move(more);
}

bool RunRegistry::wait_until(const std::string& id, const std::function<bool(const RunSnapshot&)>& done,
                             std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto reached = [&]() SKEIN_REQUIRES(impl_->mu) {
    auto it = impl_->runs.find(id);
    return it != impl_->runs.end() && it->second->test(done);
  };
  MutexLock l(impl_->mu);
  if (reached()) return true;
  Impl::Waiter w;
  w.done = &done;
  const auto at = impl_->waiters.emplace(id, &w);  // each change of the run checks `done` (Impl::wake_waiters)
  const bool woken = w.woken.wait_until(l.native(), deadline, [&] { return w.held || w.failure; });
  impl_->waiters.erase(at);
  if (w.failure) std::rethrow_exception(w.failure);
  return woken || reached();
}

asio::any_io_executor RunRegistry::executor() const { return impl_->io.get_executor(); }

}  // namespace skein
