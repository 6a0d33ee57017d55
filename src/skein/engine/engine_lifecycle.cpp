// Engine lifecycles on the broker's own threads (SPEC §2.1): starts (single flight, on the
// lifecycle pool), stops of unleased engines, idle release by keep_alive, flush, and close.
#include <boost/asio/post.hpp>
#include <cassert>
#include <filesystem>

#include "broker_core.hpp"

namespace skein::detail {
namespace {

namespace asio = boost::asio;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Clock::duration keep_alive(const BrokerEntry* e) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(e->config.keep_alive));
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

void BrokerCore::begin_start(BrokerEntry* e) {
  e->state = EngineState::starting;
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
      ++delivering;
    }
    end_transition(out);
  });
}

void BrokerCore::start_done(BrokerEntry* e, std::unique_ptr<Engine> engine, const std::string& error, double load,
                            Outbox& out) {
  settled.notify_all();
  if (!engine) {
    e->state = EngineState::stopped;
    e->memory = 0;
    out.events.push_back(event(e->config.name, EngineEventKind::start_failed, error));
    fail_waiters_of(e, "start failed: " + error, out);  // a later request tries again
    return;
  }
  e->engine = std::move(engine);
  e->state = EngineState::ready;
  e->load_seconds = load;
  out.events.push_back(event(e->config.name, EngineEventKind::started, "", load));
  if (closing)
    begin_stop(e, EngineEventKind::released, "broker closed");
  else
    to_idle(e);  // the queue's requests lease it from there
}

// Stops an unleased engine on the lifecycle executor.
void BrokerCore::begin_stop(BrokerEntry* e, EngineEventKind kind, const std::string& reason) {
  assert(e->leases == 0 && "an engine in use is never stopped");
  unlist_idle(e);
  e->state = EngineState::stopping;
  asio::post(lifecycle, [this, e, kind, reason, engine = std::move(e->engine)]() mutable {
    engine.reset();
    Outbox out;
    {
      Lock lock(mu);
      stop_done(e, kind, reason, out);
      pump(out);
      ++delivering;
    }
    end_transition(out);
  });
}

void BrokerCore::stop_done(BrokerEntry* e, EngineEventKind kind, const std::string& reason, Outbox& out) {
  e->state = EngineState::stopped;
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
      e->state = EngineState::stopped;
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
  if (e->state == EngineState::stopped && (!e->local || has_room(e))) begin_start(e);
}

void BrokerCore::flush(bool force) {
  Lock lock(mu);
  if (!force) return stop_expired_idle();
  for (auto& [name, e] : entries)
    if (e->leases > 0) e->drain = true;
  while (!idle.empty()) begin_stop(idle.front(), EngineEventKind::released, "flushed");
}

// Under the lock: stops the idle engines whose keep_alive has run out.
void BrokerCore::stop_expired_idle() {
  const auto now = Clock::now();
  for (auto it = idle.begin(); it != idle.end();) {
    BrokerEntry* e = *it++;
    if (e->config.keep_alive >= 0 && now - e->idle_since >= keep_alive(e))
      begin_stop(e, EngineEventKind::released, "idle past keep_alive");
  }
}

// The idle timer: one wait on the timers' thread, until the next idle engine's keep_alive ends.
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
  stop_expired_idle();
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
  Outbox leased;  // like LevelDB's cache with an unreleased handle, but a report, not an assert
  {
    Lock lock(mu);
    while (busy()) settled.wait(lock.native());
    closed = true;  // from now on a dropped lease stops its engine itself
    for (const auto& [name, e] : entries)
      if (e->leases > 0)
        leased.events.push_back(event(name, EngineEventKind::leased_at_close,
                                      std::to_string(e->leases) + " lease(s) alive when the broker closed: it stops " +
                                          "when the last one drops"));
  }
  deliver(leased);
  lifecycle.join();  // the timers' thread ends with the core (nothing is left for it to time)
}

void BrokerCore::end_transition(Outbox& out) {
  for (const auto& ev : out.events) deliver_event(ev);
  {
    Lock lock(mu);
    --delivering;
    settled.notify_all();
  }
  for (auto& d : out.done) d.fn(std::move(d.error), std::move(d.lease));
}

bool BrokerCore::busy() const {
  if (delivering > 0) return true;
  for (const auto& [name, e] : entries)
    if (e->state == EngineState::starting || e->state == EngineState::stopping) return true;
  return false;
}

}  // namespace skein::detail
