// Broker: the handle over the shared BrokerCore (broker_core.hpp) that users hold; its blocking
// helpers for tools and tests (acquire, settle); declaring a file's engines.
#include "skein/broker.hpp"

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <utility>

#include "broker_core.hpp"

namespace skein {

using detail::BrokerCore;
using detail::BrokerEntry;

Broker::Broker(BrokerOptions options, Factory factory) {
  if (options.max_loaded < 1) throw ConfigError({}, "max_loaded must be at least 1");
  if (options.max_queue < 1) throw ConfigError({}, "max_queue must be at least 1");
  if (options.lifecycle_threads < 1) options.lifecycle_threads = 1;
  core_ = std::make_shared<BrokerCore>(options, std::move(factory));
}

Broker::~Broker() { core_->close(); }

void Broker::add(EngineConfig config) {
  MutexLock lock(core_->mu);
  auto& slot = core_->entries[config.name];
  if (slot && slot->state != EngineState::stopped)
    throw ConfigError(config.where, "engine '" + config.name + "' is running and cannot be redeclared");
  if (!slot) slot = std::make_unique<BrokerEntry>();
  slot->local = backend_is_local(config.backend);
  slot->estimate = detail::estimated_memory(config);
  slot->config = std::move(config);
}

std::optional<EngineConfig> Broker::config(const std::string& name) const {
  MutexLock lock(core_->mu);
  auto it = core_->entries.find(name);
  if (it == core_->entries.end() || !it->second) return std::nullopt;
  return it->second->config;
}

bool Broker::contains(const std::string& name) const {
  MutexLock lock(core_->mu);
  return core_->entries.count(name) != 0;
}

const BrokerOptions& Broker::options() const { return core_->options; }

Lease Broker::try_lease(const std::string& name) { return core_->try_lease(name); }

std::shared_ptr<void> Broker::enqueue(const std::string& name, Completion done,
                                      const std::function<void(std::weak_ptr<void>)>& on_queued) {
  return core_->enqueue(name, std::move(done), on_queued);
}

void Broker::cancel(const std::weak_ptr<BrokerCore>& core, const std::weak_ptr<void>& waiter) {
  auto c = core.lock();
  auto w = std::static_pointer_cast<detail::Waiter>(waiter.lock());
  if (c && w) c->cancel(w);
}

// Waits on a condition for the completion (not a std::future: the error then ends its life on this
// thread, never on the thread that completed the request).
Lease Broker::acquire(const std::string& name) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
  Lease got;
  async_acquire(name, [&](std::exception_ptr e, Lease l) {
    std::lock_guard lock(mu);
    error = std::move(e);
    got = std::move(l);
    done = true;
    cv.notify_one();  // under the lock: the waiter cannot return (and destroy cv) before this ends
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  if (error) std::rethrow_exception(error);
  return got;
}

void Broker::preload(const std::string& name) { core_->preload(name); }

void Broker::flush(bool force) { core_->flush(force); }

void Broker::settle() {
  MutexLock lock(core_->mu);
  while (core_->busy()) core_->settled.wait(lock.native());
}

std::vector<EngineStatus> Broker::status() const {
  MutexLock lock(core_->mu);
  std::vector<EngineStatus> out;
  for (const auto& [name, e] : core_->entries) {
    EngineStatus s{name, e->config.backend, e->config.model, e->state, e->leases};
    if (e->idle_listed) s.idle_seconds = std::chrono::duration<double>(detail::Clock::now() - e->idle_since).count();
    s.load_seconds = e->load_seconds;
    s.local = e->local;
    out.push_back(std::move(s));
  }
  return out;
}

BrokerOptions broker_options(const BrokerLimits& limits, BrokerOptions base) {
  if (limits.max_loaded) base.max_loaded = *limits.max_loaded;
  if (limits.memory_budget) base.memory_budget = *limits.memory_budget;
  if (limits.acquire_timeout) base.acquire_timeout = std::chrono::milliseconds(int64_t(*limits.acquire_timeout * 1000));
  if (limits.max_queue) base.max_queue = *limits.max_queue;
  return base;
}

namespace {

bool same_configuration(const EngineConfig& a, const EngineConfig& b) {
  return a.backend == b.backend && a.model == b.model && a.options == b.options && a.lazy == b.lazy &&
         a.keep_alive == b.keep_alive && a.parallel == b.parallel && a.startup_timeout == b.startup_timeout &&
         a.memory == b.memory;
}

bool same_file(const std::string& a, const std::string& b) {
  if (a == b) return true;
  std::error_code ea, eb;
  const auto ca = std::filesystem::weakly_canonical(a, ea), cb = std::filesystem::weakly_canonical(b, eb);
  return !ea && !eb && ca == cb;
}

}  // namespace

void declare_engines(Broker& broker, const std::map<std::string, EngineConfig>& engines) {
  // Every conflict is found before anything is declared.
  std::vector<const EngineConfig*> to_add;
  for (const auto& [name, config] : engines) {
    const auto known = broker.config(name);
    if (known && same_configuration(*known, config)) continue;  // already so: nothing to do
    to_add.push_back(&config);
    if (!known || known->where.file.empty() || same_file(known->where.file, config.where.file)) continue;
    throw ConfigError(config.where,
                      "engine '" + name + "' is already declared differently at " + known->where.str() + " (" +
                          known->backend + " " + known->model + "): give one of them another name",
                      ErrorCode::already_exists);
  }
  if (!engines.count("local") && !broker.contains("local")) broker.add(local_engine_config());
  for (const EngineConfig* config : to_add) broker.add(*config);
  for (const auto& [name, config] : engines)
    if (!config.lazy) broker.preload(name);
}

void Broker::on_event(std::function<void(const EngineEvent&)> listener) {
  MutexLock lock(core_->mu);
  core_->listeners.push_back(std::move(listener));
}

bool backend_is_local(const std::string& backend) {
  return backend != "openai" && backend != "ollama" && backend != "cli";
}

const char* to_string(EngineState state) {
  switch (state) {
    case EngineState::stopped:
      return "stopped";
    case EngineState::starting:
      return "starting";
    case EngineState::ready:
      return "ready";
    case EngineState::stopping:
      return "stopping";
  }
  return "?";
}

const char* to_string(EngineEventKind k) {
  switch (k) {
    case EngineEventKind::starting:
      return "starting";
    case EngineEventKind::started:
      return "started";
    case EngineEventKind::start_failed:
      return "start_failed";
    case EngineEventKind::released:
      return "released";
    case EngineEventKind::evicted:
      return "evicted";
    case EngineEventKind::leased_at_close:
      return "leased_at_close";
  }
  return "?";
}

}  // namespace skein
