// Graph runs resumed from their checkpoint (keeping their id) and forked from any node (a new
// run): both go on from a trace, answering from a ledger what was asked before.
#include <fmt/format.h>

#include <set>

#include "registry_impl.hpp"

namespace skein {

namespace {

std::string type_reason(const Field& f, const Json& value) { return f.type ? f.type->why_invalid(value) : ""; }

// Why `trace` no longer fits `graph` (a node type gone, a field added, dropped or retyped); empty
// when it fits.
std::string misfit(const Graph& graph, const std::vector<TraceEntry>& trace) {
  for (size_t i = 0; i < trace.size(); ++i) {
    const TraceEntry& e = trace[i];
    auto it = graph.nodes.find(e.type);
    if (it == graph.nodes.end()) return fmt::format("node {} is a '{}', which the graph no longer has", i, e.type);
    for (const auto& f : it->second.fields) {
      if (!e.fields.contains(f.name))
        return fmt::format("node {} ('{}') lacks field '{}', which the graph now declares", i, e.type, f.name);
      if (const std::string why = type_reason(f, e.fields[f.name]); !why.empty())
        return fmt::format("node {} ('{}'): field '{}' no longer fits its type: {}", i, e.type, f.name, why);
    }
    for (const auto& [name, value] : e.fields.items())
      if (!it->second.field(name))
        return fmt::format("node {} ('{}') has field '{}', which the graph no longer declares", i, e.type, name);
  }
  return {};
}

// Refuses a graph that is not the run's, or one whose file changed so that the trace kept no
// longer fits it.
void check_fits(const RunSnapshot& run, const GraphJob& job, const std::vector<TraceEntry>& trace) {
  if (!job.graph || !job.lm) throw InvalidArgumentError("a graph job needs a graph and an LM");
  if (job.graph->name != run.name)
    throw InvalidArgumentError(run.id + " is a run of graph '" + run.name + "', which is not the graph given");
  if (run.file_sha256 == job.graph->file_sha256) return;
  if (const std::string why = misfit(*job.graph, trace); !why.empty())
    throw FailedPreconditionError(fmt::format(
        "the graph file {} changed since {} started (sha256 {} now {}) and its checkpoint no longer fits: {}",
        job.graph->file, run.id, run.file_sha256.substr(0, 12), job.graph->file_sha256.substr(0, 12), why));
}

// Gates opened to produce `trace`: one per gate field of each node (ids count them).
int gates_in(const Graph& graph, const std::vector<TraceEntry>& trace) {
  int n = 0;
  for (const auto& e : trace)
    for (const auto& f : graph.nodes.at(e.type).fields) n += f.source == FieldSource::gate;
  return n;
}

}  // namespace

// What a graph run resumes from: its snapshot, ledger and events, from memory or the store;
// `old` when it is still in memory. Throws when it cannot be resumed with `job`.
struct RunRegistry::Impl::Resumable {
  std::shared_ptr<Run> old;
  RunSnapshot was;
  std::map<LedgerKey, Json> known;
  std::vector<RunEvent> events;
};

RunRegistry::Impl::Resumable RunRegistry::Impl::resumable(const std::string& id,
                                                          const std::function<GraphJob(const RunSnapshot&)>& job_for,
                                                          GraphJob& job) {
  Resumable r;
  std::optional<RunSnapshot> was;
  {
    MutexLock l(mu);  // its snapshot too: end() may still be recording it
    if (auto it = runs.find(id); it != runs.end()) r.old = it->second, was = r.old->snapshot();
  }
  if (!r.old && store) was = store->load(id);
  if (!was) throw NotFoundError("no run '" + id + "'");
  if (was->kind != RunKind::graph) throw FailedPreconditionError(id + " is a chain run: resume it with its chain");
  if (!is_finished(was->state) || was->state == RunState::done)
    throw FailedPreconditionError(id + " is " + to_string(was->state) +
                                  ": only a CRASHED, CANCELLED or FAILED graph run can be resumed");
  job = job_for(*was);
  check_fits(*was, job, was->trace);
  if (r.old && r.old->ledger)
    r.known = r.old->ledger->entries();
  else if (store)
    r.known = store->ledger(id);
  r.events = events_of(id);
  r.was = std::move(*was);
  return r;
}

// The resumed run, admitted: it goes on from its checkpoint under its id.
void RunRegistry::Impl::resume_from(Resumable r, GraphJob job) {
  const RunSnapshot& was = r.was;
  auto run = std::make_shared<Run>();
  run->snap = was;
  run->snap.state = RunState::pending;
  run->snap.error.clear();
  run->snap.finished_ns = 0;
  run->snap.terminal.reset();
  run->snap.gates.clear();
  run->snap.processes.clear();
  run->snap.node = was.trace.empty() ? job.graph->start : was.trace.back().type;
  for (auto& ev : r.events) run->events.push_back(runtime::make_event(std::move(ev)));
  run->gates_opened = gates_in(*job.graph, was.trace);
  run->resume_trace = was.trace;
  for (const auto& t : was.nodes) run->tokens_before += t.tokens;
  run->timing.emplace(*job.lm);
  open_ledger(*run, std::move(r.known));
  job.input = was.input;
  run->job = std::move(job);
  admit(run, true);  // its steps as this host resumes them (another host may have gone on meanwhile)
}

std::string RunRegistry::resume(const std::string& id, GraphJob job) {
  GraphJob given = std::move(job);
  Impl::Resumable r = impl_->resumable(
      id, [&](const RunSnapshot&) { return given; }, job);
  if (r.old && impl_->store) impl_->store->flush();  // its end, maybe still queued, is what adopt() looks for
  if (impl_->store && impl_->store->adopt({id}).empty())
    throw FailedPreconditionError(id + " was resumed elsewhere first (another host of the store)");
  impl_->resume_from(std::move(r), std::move(job));
  return id;
}

std::map<std::string, std::string> RunRegistry::resume_all(const std::vector<std::string>& ids,
                                                           const std::function<GraphJob(const RunSnapshot&)>& job_for) {
  std::map<std::string, std::string> refused;
  std::vector<std::pair<Impl::Resumable, GraphJob>> ready;
  bool in_memory = false;
  std::set<std::string> seen;
  for (const auto& id : ids) try {
      if (!seen.insert(id).second) continue;  // once
      GraphJob job;
      Impl::Resumable r = impl_->resumable(id, job_for, job);
      in_memory = in_memory || r.old;
      ready.emplace_back(std::move(r), std::move(job));
    } catch (const std::exception& e) {
      refused[id] = e.what();
    }
  if (impl_->store) {
    if (in_memory) impl_->store->flush();
    std::vector<std::string> wanted;
    for (const auto& [r, job] : ready) wanted.push_back(r.was.id);
    const std::set<std::string> adopted = impl_->store->adopt(wanted);
    std::erase_if(ready, [&](const auto& item) {
      const std::string& id = item.first.was.id;
      if (adopted.count(id)) return false;
      refused[id] = id + " was resumed elsewhere first (another host of the store)";
      return true;
    });
  }
  for (auto& [r, job] : ready) {
    const std::string id = r.was.id;
    try {
      impl_->resume_from(std::move(r), std::move(job));
    } catch (const std::exception& e) {  // resumed meanwhile by another thread of this process
      refused[id] = e.what();
    }
  }
  return refused;
}

std::string RunRegistry::fork(const std::string& id, size_t at, Json fields, GraphJob job) {
  const std::optional<RunSnapshot> src = get(id);
  if (!src) throw NotFoundError("no run '" + id + "'");
  if (src->kind != RunKind::graph) throw InvalidArgumentError(id + " is a chain run: only graph runs fork");
  if (at >= src->trace.size())
    throw InvalidArgumentError(
        fmt::format("{} has {} nodes: there is no node {} to fork at", id, src->trace.size(), at));
  if (!fields.is_object())
    throw InvalidArgumentError("a fork's fields are an object of node " + std::to_string(at) + "'s fields");
  std::vector<TraceEntry> trace(src->trace.begin(), src->trace.begin() + int64_t(at) + 1);
  check_fits(*src, job, trace);
  TraceEntry& node = trace.back();
  const NodeType& type = job.graph->nodes.at(node.type);
  for (auto& [name, value] : fields.items()) {
    const Field* f = type.field(name);
    if (!f)
      throw InvalidArgumentError("node " + std::to_string(at) + " ('" + node.type + "') has no field '" + name + "'");
    if (const std::string why = type_reason(*f, value); !why.empty())
      throw InvalidValueError("field '" + name + "' of node " + std::to_string(at) + ": " + value.dump() +
                              " is not of its type (" + why + ")");
    node.fields[name] = value;
  }
  std::map<LedgerKey, Json> known;  // what produced nodes 0..at
  {
    std::shared_ptr<Run> source;
    {
      MutexLock l(impl_->mu);
      if (auto it = impl_->runs.find(id); it != impl_->runs.end()) source = it->second;
    }
    auto all = source && source->ledger ? source->ledger->entries()
               : impl_->store           ? impl_->store->ledger(id)
                                        : std::map<LedgerKey, Json>{};
    for (auto& [key, value] : all)
      if (key.kind == LedgerKind::dep ? value.value("at", int64_t(0)) <= int64_t(at) : key.node <= int64_t(at))
        known.emplace(key, std::move(value));
  }
  auto run = std::make_shared<Run>();
  run->snap.kind = RunKind::graph;
  run->snap.name = src->name;
  run->snap.input = src->input;
  run->snap.submitted_ns = now_ns();
  run->snap.node = node.type;
  run->snap.file_sha256 = job.graph->file_sha256;
  run->snap.forked_from = id;
  run->snap.forked_at = int64_t(at);
  run->snap.trace = trace;
  run->snap.nodes.assign(src->nodes.begin(), src->nodes.begin() + int64_t(std::min(at + 1, src->nodes.size())));
  for (const auto& t : run->snap.nodes) run->snap.tokens += t.tokens;
  run->tokens_before = run->snap.tokens;
  run->gates_opened = gates_in(*job.graph, trace);
  run->resume_trace = std::move(trace);
  run->timing.emplace(*job.lm);
  run->snap.id = impl_->allocate_id(RunKind::graph);
  impl_->open_ledger(*run);
  for (auto& [key, value] : known) run->ledger->note(key, std::move(value));
  run->job = std::move(job);
  impl_->admit(run);
  return run->snap.id;
}

}  // namespace skein
