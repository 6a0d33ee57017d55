// The broker: leases, a FIFO queue of requests, single-flight lazy start, idle release, flush and
// eviction (SPEC §2.1). See broker_core.hpp for how the queue is served.
#include "skein/broker.hpp"

#include <boost/asio/post.hpp>
#include <filesystem>

#include "broker_core.hpp"

namespace skein {
namespace detail {
namespace {

namespace asio = boost::asio;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Clock::duration keep_alive(const BrokerEntry* e) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(e->config.keep_alive));
}

EngineEvent event(const std::string& engine, EngineEventKind kind, std::string detail, double load = 0) {
  return {std::chrono::system_clock::now(), engine, kind, std::move(detail), load};
}

std::exception_ptr engine_error(const std::string& engine, const std::string& message) {
  return std::make_exception_ptr(EngineError(engine, message));
}

}  // namespace

size_t estimated_memory(const EngineConfig& c) {
  if (c.memory > 0) return c.memory;
  std::error_code ec;
  const auto size = std::filesystem::file_size(c.model, ec);
  return ec ? 0 : size_t(size);
}

BrokerCore::BrokerCore(BrokerOptions o, Broker::Factory f)
    : options(o),
      factory(std::move(f)),
      lifecycle(o.lifecycle_threads),
      timers_work(timers.get_executor()),
      timers_thread([this] { timers.run(); }),
      idle_timer(timers) {}

BrokerCore::~BrokerCore() {
  timers_work.reset();
  timers.stop();
  if (timers_thread.joinable()) timers_thread.join();
}

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
  if (e->state != State::ready || e->yielding || (e->leases == 0 && !e->engine->alive())) return {};
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
    const std::string message = e->state == State::starting
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
      case State::ready:
        if (e->yielding) break;                       // stopped once its leases drop
        if (e->leases == 0 && !e->engine->alive()) {  // died while idle: replace it
          begin_stop(e, EngineEventKind::released, "engine died; starting it again");
          break;
        }
        complete(w, nullptr, lease(e), out);
        break;
      case State::starting:
      case State::stopping:
        break;
      case State::stopped:
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
    if (other->local && other->state != State::stopped) ++loaded, memory += other->memory;
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
    if (!other->local || other->state == State::stopped) continue;
    if (other->state == State::stopping || other->yielding) return;  // room is coming
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
    if (other->local && other->state == State::ready && other->leases > 0 && other.get() != e &&
        (!chosen || other->memory > chosen->memory))
      chosen = other.get();
  if (!chosen) return;  // every engine is starting: a start completes, and pump runs again
  chosen->yielding = true;
  chosen->yielding_to = e->config.name;
}

void BrokerCore::begin_start(BrokerEntry* e) {
  e->state = State::starting;
  e->memory = e->estimate;  // a starting engine counts with its estimated size
  asio::post(lifecycle, [this, e, config = e->config] {
    deliver_event(event(config.name, EngineEventKind::starting, config.model));
    const auto t0 = Clock::now();
    std::unique_ptr<Engine> engine;
    std::string error;
    try {
      engine = factory(config);
      if (!engine) error = "the backend returned no engine";
    } catch (const std::exception& ex) {
      error = ex.what();
    }
    Outbox out;
    {
      Lock lock(mu);
      start_done(e, std::move(engine), error, seconds_since(t0), out);
      pump(out);
    }
    deliver(out);
  });
}

void BrokerCore::start_done(BrokerEntry* e, std::unique_ptr<Engine> engine, const std::string& error, double load,
                            Outbox& out) {
  settled.notify_all();
  if (!engine) {
    e->state = State::stopped;
    e->memory = 0;
    out.events.push_back(event(e->config.name, EngineEventKind::start_failed, error));
    fail_waiters_of(e, "start failed: " + error, out);  // a later request tries again
    return;
  }
  e->engine = std::move(engine);
  e->state = State::ready;
  e->load_seconds = load;
  out.events.push_back(event(e->config.name, EngineEventKind::started, "", load));
  if (closing)
    begin_stop(e, EngineEventKind::released, "broker closed");
  else
    to_idle(e);  // the queue's requests lease it from there
}

void BrokerCore::fail_waiters_of(BrokerEntry* e, const std::string& message, Outbox& out) {
  for (auto it = queue.begin(); it != queue.end();) {
    std::shared_ptr<Waiter> w = *it++;
    if (w->entry == e) complete(w, engine_error(e->config.name, message), Lease(), out);
  }
}

// Stops an unleased engine on the lifecycle executor.
void BrokerCore::begin_stop(BrokerEntry* e, EngineEventKind kind, const std::string& reason) {
  unlist_idle(e);
  e->state = State::stopping;
  asio::post(lifecycle, [this, e, kind, reason, engine = std::move(e->engine)]() mutable {
    engine.reset();
    Outbox out;
    {
      Lock lock(mu);
      stop_done(e, kind, reason, out);
      pump(out);
    }
    deliver(out);
  });
}

void BrokerCore::stop_done(BrokerEntry* e, EngineEventKind kind, const std::string& reason, Outbox& out) {
  e->state = State::stopped;
  e->drain = false;
  e->yielding = false;
  e->memory = 0;
  out.events.push_back(event(e->config.name, kind, reason));
  settled.notify_all();
}

void BrokerCore::to_idle(BrokerEntry* e) {
  e->idle_since = Clock::now();
  idle.push_back(e);
  e->idle_pos = std::prev(idle.end());
  e->idle_listed = true;
  arm_idle_timer();
}

void BrokerCore::unlist_idle(BrokerEntry* e) {
  if (e->idle_listed) idle.erase(e->idle_pos), e->idle_listed = false;
}

void BrokerCore::release(BrokerEntry* e) {
  Outbox out;
  std::unique_ptr<Engine> orphan;  // stopped here: the broker is gone
  {
    Lock lock(mu);
    if (--e->leases > 0) return;
    const bool dead = !e->engine->alive();
    if (closed) {
      orphan = std::move(e->engine);
      e->state = State::stopped;
      out.events.push_back(event(e->config.name, EngineEventKind::released, "broker closed"));
    } else if (e->yielding) {
      begin_stop(e, EngineEventKind::evicted, "evicted to make room for '" + e->yielding_to + "'");
    } else if (e->drain || e->config.keep_alive == 0 || closing || dead) {
      begin_stop(e, EngineEventKind::released, dead ? "engine died" : e->drain ? "flushed" : "keep_alive 0");
    } else {
      to_idle(e);
    }
    pump(out);
  }
  orphan.reset();
  deliver(out);
}

void BrokerCore::preload(const std::string& name) {
  Lock lock(mu);
  auto it = entries.find(name);
  if (it == entries.end() || closing) return;
  BrokerEntry* e = it->second.get();
  if (e->state == State::stopped && (!e->local || has_room(e))) begin_start(e);
}

void BrokerCore::flush(bool force) {
  Lock lock(mu);
  if (force)
    for (auto& [name, e] : entries)
      if (e->leases > 0) e->drain = true;
  const auto now = Clock::now();
  for (auto it = idle.begin(); it != idle.end();) {
    BrokerEntry* e = *it++;
    if (force) {
      begin_stop(e, EngineEventKind::released, "flushed");
    } else if (e->config.keep_alive >= 0 && now - e->idle_since >= keep_alive(e)) {
      begin_stop(e, EngineEventKind::released, "idle past keep_alive");
    }
  }
}

// The idle timer: one wait on the lifecycle executor, until the next idle engine's keep_alive ends.
void BrokerCore::arm_idle_timer() {
  auto next = Clock::time_point::max();
  for (BrokerEntry* e : idle)
    if (e->config.keep_alive >= 0) next = std::min(next, e->idle_since + keep_alive(e));
  if (next == Clock::time_point::max() || next >= idle_timer_at || closing) return;
  idle_timer_at = next;
  idle_timer.expires_at(next);
  idle_timer.async_wait([this](boost::system::error_code ec) {
    if (!ec) on_idle_timer();
  });
}

void BrokerCore::on_idle_timer() {
  Lock lock(mu);
  idle_timer_at = Clock::time_point::max();
  const auto now = Clock::now();
  for (auto it = idle.begin(); it != idle.end();) {
    BrokerEntry* e = *it++;
    if (e->config.keep_alive >= 0 && now - e->idle_since >= keep_alive(e))
      begin_stop(e, EngineEventKind::released, "idle past keep_alive");
  }
  arm_idle_timer();
}

void BrokerCore::close() {
  Outbox out;
  {
    Lock lock(mu);
    closing = true;
    while (!queue.empty())
      complete(queue.front(), engine_error(queue.front()->entry->config.name, "the broker is shutting down"), Lease(),
               out);
    idle_timer.cancel();
    while (!idle.empty()) begin_stop(idle.front(), EngineEventKind::released, "broker closed");
  }
  deliver(out);
  {
    Lock lock(mu);
    settled.wait(lock, [&] { return !busy(); });
    closed = true;  // from now on a dropped lease stops its engine itself
  }
  lifecycle.join();
  timers_work.reset();
  timers.stop();
  timers_thread.join();
}

bool BrokerCore::busy() const {
  for (const auto& [name, e] : entries)
    if (e->state == State::starting || e->state == State::stopping) return true;
  return false;
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

bool backend_is_local(const std::string& backend) {
  return backend != "openai" && backend != "ollama" && backend != "cli";
}

const char* to_string(EngineEventKind k) {
  switch (k) {
    case EngineEventKind::starting:
      return "starting";
    case EngineEventKind::started:
      return "started";
    case EngineEventKind::start_failed:
      return "start failed";
    case EngineEventKind::released:
      return "released";
    case EngineEventKind::evicted:
      return "evicted";
  }
  return "?";
}

}  // namespace skein
