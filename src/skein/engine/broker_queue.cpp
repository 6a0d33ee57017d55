// The broker's request queue (SPEC §2.1): leases, the FIFO queue with its deadlines and
// cancellation, and room for local engines (eviction, yield). See broker_core.hpp for how the
// queue is served; engine_lifecycle.cpp starts and stops the engines.
#include "broker_core.hpp"

namespace skein {
namespace detail {

namespace asio = boost::asio;

Lease BrokerCore::lease(BrokerEntry* e) {
  unlist_idle(e);
  ++e->leases;
  return Lease(shared_from_this(), e, e->engine.get());
}

Lease BrokerCore::try_lease(const std::string& name) {
  Lock lock(mu);
  auto it = entries.find(name);
  if (it == entries.end() || closing) return {};
  BrokerEntry* e = it->second.get();
  if (e->state != EngineState::ready || e->yielding || (e->leases == 0 && !e->engine->alive())) return {};
  return lease(e);
}

std::shared_ptr<Waiter> BrokerCore::enqueue(const std::string& name, Broker::Completion done,
                                            const std::function<void(std::weak_ptr<void>)>& on_queued) {
  Outbox out;
  std::shared_ptr<Waiter> w;
  {
    Lock lock(mu);
    auto it = entries.find(name);
    std::exception_ptr refused;
    if (it == entries.end())
      refused = engine_error(name, "no engine of that name is configured");
    else if (closing)
      refused = engine_error(name, "the broker is shutting down");
    else if (queue.size() >= options.max_queue)
      refused = engine_error(name, std::to_string(queue.size()) + " requests already waiting (max_queue)");
    if (refused) {
      out.done.push_back({std::move(done), refused, Lease()});
    } else {
      w = std::make_shared<Waiter>();
      w->entry = it->second.get();
      w->done = std::move(done);
      w->pos = queue.insert(queue.end(), w);
      w->queued = true;
      w->deadline = std::make_unique<asio::steady_timer>(timers, options.acquire_timeout);
      w->deadline->async_wait([this, weak = std::weak_ptr<Waiter>(w)](boost::system::error_code ec) {
        if (auto waiter = weak.lock(); waiter && !ec) expire(waiter);
      });
      if (on_queued) on_queued(w);  // before it can complete: a cancel finds it queued
      pump(out);
    }
  }
  deliver(out);
  return w;
}

void BrokerCore::complete(const std::shared_ptr<Waiter>& w, std::exception_ptr e, Lease l, Outbox& out) {
  w->queued = false;
  queue.erase(w->pos);
  w->deadline->cancel();
  out.done.push_back({std::move(w->done), e, std::move(l)});
}

void BrokerCore::cancel(const std::shared_ptr<Waiter>& w) {
  Outbox out;
  {
    Lock lock(mu);
    if (!w->queued) return;
    complete(w, std::make_exception_ptr(boost::system::system_error(asio::error::operation_aborted, "cancelled")),
             Lease(), out);
    pump(out);
  }
  deliver(out);
}

void BrokerCore::expire(const std::shared_ptr<Waiter>& w) {
  Outbox out;
  {
    Lock lock(mu);
    if (!w->queued) return;
    const BrokerEntry* e = w->entry;
    const std::string waited = " (waited " + std::to_string(options.acquire_timeout.count()) + " ms)";
    const std::string message = e->state == EngineState::starting
                                    ? "timed out waiting for the engine to start" + waited
                                    : "no room to start it: " + std::to_string(options.max_loaded) +
                                          " engines are loaded and all in use" + waited;
    complete(w, engine_error(e->config.name, message), Lease(), out);
    pump(out);
  }
  deliver(out);
}

// Serves the queue front to back (see broker_core.hpp).
void BrokerCore::pump(Outbox& out) {
  bool room_blocked = false;
  for (auto it = queue.begin(); it != queue.end();) {
    std::shared_ptr<Waiter> w = *it++;  // serving may take it out of the queue
    BrokerEntry* e = w->entry;
    switch (e->state) {
      case EngineState::ready:
        if (e->yielding) break;                       // stopped once its leases drop
        if (e->leases == 0 && !e->engine->alive()) {  // died while idle: replace it
          begin_stop(e, EngineEventKind::released, "engine died; starting it again");
          break;
        }
        complete(w, nullptr, lease(e), out);
        break;
      case EngineState::starting:
      case EngineState::stopping:
        break;
      case EngineState::stopped:
        if (!e->local) {
          begin_start(e);
        } else if (options.memory_budget && e->estimate > options.memory_budget) {
          complete(w,
                   engine_error(e->config.name, "needs " + std::to_string(e->estimate) +
                                                    " bytes, more than the whole memory budget of " +
                                                    std::to_string(options.memory_budget)),
                   Lease(), out);
        } else if (!room_blocked && has_room(e)) {
          begin_start(e);
        } else if (!room_blocked) {
          room_blocked = true;  // later requests that need room wait behind this one
          make_room(e);
        }
        break;
    }
  }
}

bool BrokerCore::has_room(const BrokerEntry* e) const {
  int loaded = 0;
  size_t memory = 0;
  for (const auto& [name, other] : entries)
    if (other->local && other->state != EngineState::stopped) ++loaded, memory += other->memory;
  if (loaded >= options.max_loaded) return false;
  return options.memory_budget == 0 || memory + e->estimate <= options.memory_budget;
}

bool BrokerCore::has_waiters(const BrokerEntry* e) const {
  for (const auto& w : queue)
    if (w->entry == e) return true;
  return false;
}

// Makes room for `e`, one stop at a time (pump runs again when it completes): nothing while a stop
// or a yield is under way; else the least recently used idle engine nobody waits for, when stopping
// such engines can make `e` fit; else a leased engine yields (stopped once its leases drop), so a
// request for room never waits forever behind engines that are always in use.
void BrokerCore::make_room(const BrokerEntry* e) {
  int loaded = 0, evictable = 0;
  size_t memory = 0, freeable = 0;
  for (const auto& [name, other] : entries) {
    if (!other->local || other->state == EngineState::stopped) continue;
    if (other->state == EngineState::stopping || other->yielding) return;  // room is coming
    ++loaded, memory += other->memory;
  }
  BrokerEntry* lru = nullptr;
  for (BrokerEntry* candidate : idle)
    if (candidate->local && !has_waiters(candidate)) {
      if (!lru) lru = candidate;
      ++evictable, freeable += candidate->memory;
    }
  const bool fits = loaded - evictable < options.max_loaded &&
                    (options.memory_budget == 0 || memory - freeable + e->estimate <= options.memory_budget);
  if (lru && fits)
    begin_stop(lru, EngineEventKind::evicted, "evicted to make room for '" + e->config.name + "'");
  else
    yield_one(e);
}

// The leased local engine holding the most memory stops serving new leases, for `e`.
void BrokerCore::yield_one(const BrokerEntry* e) {
  BrokerEntry* chosen = nullptr;
  for (const auto& [name, other] : entries)
    if (other->local && other->state == EngineState::ready && other->leases > 0 && other.get() != e &&
        (!chosen || other->memory > chosen->memory))
      chosen = other.get();
  if (!chosen) return;  // every engine is starting: a start completes, and pump runs again
  chosen->yielding = true;
  chosen->yielding_to = e->config.name;
}

void BrokerCore::fail_waiters_of(BrokerEntry* e, const std::string& message, Outbox& out) {
  for (auto it = queue.begin(); it != queue.end();) {
    std::shared_ptr<Waiter> w = *it++;
    if (w->entry == e) complete(w, engine_error(e->config.name, message), Lease(), out);
  }
}

void BrokerCore::deliver_event(const EngineEvent& ev) {
  std::vector<std::function<void(const EngineEvent&)>> copy;
  {
    Lock lock(mu);
    copy = listeners;
  }
  for (auto& l : copy) l(ev);
}

void BrokerCore::deliver(Outbox& out) {
  for (const auto& ev : out.events) deliver_event(ev);
  for (auto& d : out.done) d.fn(std::move(d.error), std::move(d.lease));
}

}  // namespace detail

}  // namespace skein
