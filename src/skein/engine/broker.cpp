// The broker: leases, single-flight lazy start, idle release, flush and eviction (SPEC §2.1).
#include "skein/broker.hpp"

#include <filesystem>

#include "broker_core.hpp"

namespace skein {
namespace detail {
namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Clock::duration keep_alive(const BrokerEntry* e) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(e->config.keep_alive));
}

size_t memory_of(const EngineConfig& c) {
  if (c.memory > 0) return c.memory;
  std::error_code ec;
  const auto size = std::filesystem::file_size(c.model, ec);
  return ec ? 0 : size_t(size);
}

}  // namespace

Lease BrokerCore::lease(BrokerEntry* e) {
  if (e->idle_listed) idle.erase(e->idle_pos), e->idle_listed = false;
  ++e->leases;
  return Lease(shared_from_this(), e, e->engine.get());
}

Lease BrokerCore::acquire(const std::string& name) {
  Lock lock(mu);
  auto it = entries.find(name);
  if (it == entries.end()) throw EngineError(name, "no engine of that name is configured");
  BrokerEntry* e = it->second.get();
  const auto deadline = Clock::now() + options.acquire_timeout;
  for (;;) {
    switch (e->state) {
      case State::ready:
        if (e->leases == 0 && !e->engine->alive()) {  // died while idle: replace it
          stop(lock, e, EngineEventKind::released, "engine died; starting it again");
          break;
        }
        return lease(e);
      case State::starting:
        wait_for_start(lock, e, deadline);
        break;
      case State::stopping:
        if (!changed.wait_until(lock, deadline, [&] { return e->state != State::stopping; }))
          throw EngineError(name, "timed out waiting for the engine to stop before restarting it");
        break;
      case State::stopped:
        if (make_room(lock, e, deadline)) return start(lock, e);
        break;
    }
  }
}

// Waits for another thread's start of `e`; rethrows its failure.
void BrokerCore::wait_for_start(Lock& lock, BrokerEntry* e, Clock::time_point deadline) {
  const uint64_t attempt = e->attempt;
  if (!changed.wait_until(lock, deadline, [&] { return e->state != State::starting || e->attempt != attempt; }))
    throw EngineError(e->config.name, "timed out waiting for the engine to start");
  if (e->state == State::stopped && e->failed_attempt == attempt)
    throw EngineError(e->config.name, "start failed: " + e->last_error);
}

// The first acquirer starts the engine; the others wait in wait_for_start.
Lease BrokerCore::start(Lock& lock, BrokerEntry* e) {
  e->state = State::starting;
  const uint64_t attempt = ++e->attempt;
  const EngineConfig config = e->config;
  lock.unlock();
  emit({std::chrono::system_clock::now(), config.name, EngineEventKind::starting, config.model});
  const auto t0 = Clock::now();
  std::unique_ptr<Engine> engine;
  std::string error;
  try {
    engine = factory(config);
    if (!engine) error = "the backend returned no engine";
  } catch (const std::exception& ex) {
    error = ex.what();
  }
  const double load = seconds_since(t0);
  lock.lock();
  if (!engine) {
    e->state = State::stopped;
    e->failed_attempt = attempt;
    e->last_error = error;
    changed.notify_all();
    lock.unlock();
    emit({std::chrono::system_clock::now(), config.name, EngineEventKind::start_failed, error});
    throw EngineError(config.name, "start failed: " + error);
  }
  e->engine = std::move(engine);
  e->state = State::ready;
  e->load_seconds = load;
  e->memory = memory_of(config);
  Lease l = lease(e);
  changed.notify_all();
  lock.unlock();
  emit({std::chrono::system_clock::now(), config.name, EngineEventKind::started, "", load});
  return l;
}

bool BrokerCore::has_room(const BrokerEntry* e) const {
  int loaded = 0;
  size_t memory = 0;
  for (const auto& [name, other] : entries)
    if (other->state != State::stopped) ++loaded, memory += other->memory;
  if (loaded >= options.max_loaded) return false;
  return options.memory_budget == 0 || memory + memory_of(e->config) <= options.memory_budget;
}

// Evicts idle engines, least recently used first, until `e` fits; waits while every loaded engine
// is leased. Returns true with the lock held when `e` may start; false to re-examine `e`.
bool BrokerCore::make_room(Lock& lock, BrokerEntry* e, Clock::time_point deadline) {
  if (options.memory_budget && memory_of(e->config) > options.memory_budget)
    throw EngineError(e->config.name, "needs " + std::to_string(memory_of(e->config)) +
                                          " bytes, more than the whole memory budget of " +
                                          std::to_string(options.memory_budget));
  while (!has_room(e)) {
    if (!idle.empty()) {
      stop(lock, idle.front(), EngineEventKind::evicted, "evicted to make room for '" + e->config.name + "'");
      return false;
    }
    if (changed.wait_until(lock, deadline) == std::cv_status::timeout && !has_room(e))
      throw EngineError(e->config.name, "no room to start it: " + std::to_string(options.max_loaded) +
                                            " engines are loaded and all in use (waited " +
                                            std::to_string(options.acquire_timeout.count()) + " ms)");
    if (e->state != State::stopped) return false;
  }
  return true;
}

// Stops an idle (unleased, ready) engine outside the lock. Returns with the lock held.
void BrokerCore::stop(Lock& lock, BrokerEntry* e, EngineEventKind kind, const std::string& reason) {
  if (e->idle_listed) idle.erase(e->idle_pos), e->idle_listed = false;
  e->state = State::stopping;
  std::unique_ptr<Engine> engine = std::move(e->engine);
  const std::string name = e->config.name;
  lock.unlock();
  engine.reset();
  emit({std::chrono::system_clock::now(), name, kind, reason});
  lock.lock();
  e->state = State::stopped;
  e->drain = false;
  e->memory = 0;
  changed.notify_all();
}

void BrokerCore::release(BrokerEntry* e) {
  Lock lock(mu);
  if (--e->leases > 0) return;
  e->idle_since = Clock::now();
  const bool dead = !e->engine->alive();
  if (e->drain || e->config.keep_alive == 0 || closing || dead) {
    stop(lock, e, EngineEventKind::released, dead ? "engine died" : e->drain ? "flushed" : "keep_alive 0");
    return;
  }
  idle.push_back(e);
  e->idle_pos = std::prev(idle.end());
  e->idle_listed = true;
  changed.notify_all();
}

BrokerEntry* BrokerCore::expired_idle(Clock::time_point now) const {
  for (BrokerEntry* e : idle)
    if (e->config.keep_alive >= 0 && now - e->idle_since >= keep_alive(e)) return e;
  return nullptr;
}

void BrokerCore::flush(bool force) {
  Lock lock(mu);
  if (force)
    for (auto& [name, e] : entries)
      if (e->leases > 0) e->drain = true;
  while (BrokerEntry* e = force ? (idle.empty() ? nullptr : idle.front()) : expired_idle(Clock::now()))
    stop(lock, e, EngineEventKind::released, force ? "flushed" : "idle past keep_alive");
}

// The idle timer: sleeps until the next idle engine's keep_alive runs out.
void BrokerCore::run_timer() {
  Lock lock(mu);
  while (!closing) {
    if (BrokerEntry* e = expired_idle(Clock::now())) {
      stop(lock, e, EngineEventKind::released, "idle past keep_alive");
      continue;
    }
    auto next = Clock::time_point::max();
    for (BrokerEntry* e : idle)
      if (e->config.keep_alive >= 0) next = std::min(next, e->idle_since + keep_alive(e));
    if (next == Clock::time_point::max())
      changed.wait(lock);
    else
      changed.wait_until(lock, next);
  }
}

void BrokerCore::close() {
  {
    Lock lock(mu);
    closing = true;
    changed.notify_all();
  }
  if (timer.joinable()) timer.join();
  Lock lock(mu);
  while (!idle.empty()) stop(lock, idle.front(), EngineEventKind::released, "broker closed");
}

void BrokerCore::emit(EngineEvent event) {
  std::vector<std::function<void(const EngineEvent&)>> copy;
  {
    std::lock_guard lock(mu);
    copy = listeners;
  }
  for (auto& l : copy) l(event);
}

}  // namespace detail

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
