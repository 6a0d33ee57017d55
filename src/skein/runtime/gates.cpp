// Gates: a node's gates opened at once (the run WAITING), answers checked against their field's
// type, the run woken when every one is answered, timed out or cancelled.
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>

#include "registry_impl.hpp"

namespace skein {

namespace {
// Built outside coroutines (GCC 12 and braced aggregates of literals in a coroutine frame).
LedgerKey gate_key(int64_t node, const std::string& field) { return LedgerKey{node, LedgerKind::gate, field}; }
}  // namespace

// Opens a gate per field, puts the run in WAITING and waits until every one is answered (answer()
// wakes the timer), the gate timeout passes or the run is cancelled.
asio::awaitable<Json> RunRegistry::Impl::open_gates(std::shared_ptr<Run> run, const NodeType& node,
                                                    std::vector<const Field*> fields) {
  auto timer = std::make_shared<asio::steady_timer>(io, asio::steady_timer::time_point::max());
  if (run->job.gate_timeout) timer->expires_after(*run->job.gate_timeout);
  run->gate_timer = timer;
  std::vector<std::string> ids;
  std::vector<runtime::EventPtr> opened;
  bool all_known = true;
  int64_t index = 0;  // of the node in the trace
  update(*run, [&]() SKEIN_REQUIRES(
                   mu) {  // the gates, WAITING and their events at once: nobody answers a gate not yet announced
    index = int64_t(run->snap.trace.size());
    for (const Field* f : fields) {
      GateInfo g{run->snap.id + "." + std::to_string(++run->gates_opened),
                 run->snap.id,
                 node.name,
                 f->name,
                 f->gate,
                 Json(),  // filled from the type when shown (a parked run keeps no copy)
                 now_ns()};
      ids.push_back(g.id);
      std::optional<Json> known = run->ledger ? run->ledger->find(gate_key(index, f->name)) : std::nullopt;
      all_known = all_known && known;  // answered before the run was resumed: not asked again
      if (!known)
        if (auto ev =
                record(*run, RunEventKind::gate_opened, {{"gate", g.id}, {"node", node.name}, {"field", f->name}}))
          opened.push_back(std::move(ev));
      run->open[ids.back()] = OpenGate{std::move(g), index, f->type, std::move(known)};
    }
    if (!all_known) run->snap.state = RunState::waiting;
  });
  for (auto& ev : opened) dispatch(std::move(ev));
  persist(*run);
  auto close = [&](RunState state) {
    update(*run, [&]() SKEIN_REQUIRES(mu) {
      for (const auto& id : ids) run->open.erase(id);
      run->snap.state = state;
    });
    persist(*run);
    run->gate_timer.reset();
  };
  for (;;) {
    boost::system::error_code ec;
    try {
      if (!all_known) co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    } catch (...) {  // cancelled before it could wait
      close(RunState::running);
      throw;
    }
    Json answers = Json::object();
    bool cancelled = false;
    {
      MutexLock l(mu);
      cancelled = run->cancel_requested;
      for (const auto& id : ids)
        if (const auto& g = run->open.at(id); g.answer) answers[g.info.field] = *g.answer;
    }
    if (answers.size() == ids.size()) {
      if (run->ledger && !all_known)  // durable before the run acts on them (answer() only queued them)
        for (const auto& [field, value] : answers.items()) {
          LedgerKey key = gate_key(index, field);
          Json entry = value;
          co_await run->ledger->record(std::move(key), std::move(entry));
        }
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

std::vector<GateInfo> RunRegistry::gates() const {
  MutexLock l(impl_->mu);
  std::vector<GateInfo> out;
  for (const auto& [key, id] : impl_->order)
    for (const auto& [gid, g] : impl_->runs.at(id)->open)
      if (!g.answer) out.push_back(g.shown());
  return out;
}

size_t RunRegistry::pending_gates() const {
  MutexLock l(impl_->mu);
  size_t n = 0;
  for (const auto& [id, run] : impl_->runs)
    for (const auto& [gid, g] : run->open) n += !g.answer;
  return n;
}

void RunRegistry::answer(const std::string& gate_id, Json value) {
  std::shared_ptr<Run> run;
  bool all_answered = true;
  runtime::EventPtr answered;
  {
    MutexLock l(impl_->mu);
    const size_t dot = gate_id.rfind('.');
    auto it = dot == std::string::npos ? impl_->runs.end() : impl_->runs.find(gate_id.substr(0, dot));
    int k = 0;
    if (it != impl_->runs.end()) std::from_chars(gate_id.data() + dot + 1, gate_id.data() + gate_id.size(), k);
    if (it == impl_->runs.end() || k < 1 || k > it->second->gates_opened) throw NotFoundError("no gate " + gate_id);
    run = it->second;
    if (!run->open.count(gate_id) || run->open.at(gate_id).answer)
      throw FailedPreconditionError("gate " + gate_id + " is closed: it was answered, or its run moved on");
    OpenGate& g = run->open.at(gate_id);
    if (g.type) {
      if (const std::string reason = g.type->why_invalid(value); !reason.empty()) {
        std::string given = value.dump();
        if (given.size() > 200) given = given.substr(0, 200) + "…";
        throw InvalidValueError("answer to " + gate_id + " refused: " + given + " is not of the type " +
                                g.type->schema().dump() + " (" + reason + ")");
      }
    }
    if (run->ledger) run->ledger->note(gate_key(g.node_index, g.info.field), value);  // before the run sees it
    g.answer = std::move(value);
    for (const auto& [id, other] : run->open) all_answered = all_answered && other.answer.has_value();
    answered = impl_->record(*run, RunEventKind::gate_answered, {{"gate", gate_id}});
    impl_->wake_waiters(*run);
  }
  if (answered) impl_->dispatch(std::move(answered));
  if (all_answered)
    asio::post(impl_->io, [run] {
      if (run->gate_timer) run->gate_timer->cancel();
    });
}

}  // namespace skein
