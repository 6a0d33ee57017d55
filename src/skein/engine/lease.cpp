// Broker and Lease: thin handles over the shared BrokerCore.
#include <utility>

#include "broker_core.hpp"

namespace skein {

using detail::BrokerCore;
using detail::BrokerEntry;
using detail::State;

Lease::Lease(Lease&& other) noexcept
    : core_(std::move(other.core_)),
      entry_(std::exchange(other.entry_, nullptr)),
      engine_(std::exchange(other.engine_, nullptr)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    core_ = std::move(other.core_);
    entry_ = std::exchange(other.entry_, nullptr);
    engine_ = std::exchange(other.engine_, nullptr);
  }
  return *this;
}

Lease::~Lease() { release(); }

const std::string& Lease::name() const { return entry_->config.name; }

void Lease::release() {
  if (!entry_) return;
  core_->release(entry_);
  entry_ = nullptr;
  engine_ = nullptr;
  core_.reset();
}

Broker::Broker(BrokerOptions options, Factory factory) : core_(std::make_shared<BrokerCore>()) {
  if (options.max_loaded < 1) throw ConfigError({}, "max_loaded must be at least 1");
  core_->options = options;
  core_->factory = std::move(factory);
  core_->timer = std::thread([core = core_.get()] { core->run_timer(); });
}

Broker::~Broker() { core_->close(); }

void Broker::add(EngineConfig config) {
  std::lock_guard lock(core_->mu);
  auto& slot = core_->entries[config.name];
  if (slot && slot->state != State::stopped)
    throw ConfigError(config.where, "engine '" + config.name + "' is running and cannot be redeclared");
  if (!slot) slot = std::make_unique<BrokerEntry>();
  slot->config = std::move(config);
}

bool Broker::contains(const std::string& name) const {
  std::lock_guard lock(core_->mu);
  return core_->entries.count(name) != 0;
}

Lease Broker::acquire(const std::string& name) { return core_->acquire(name); }

void Broker::flush(bool force) { core_->flush(force); }

std::vector<EngineStatus> Broker::status() const {
  static const char* kStates[] = {"stopped", "starting", "ready", "stopping"};
  std::lock_guard lock(core_->mu);
  std::vector<EngineStatus> out;
  for (const auto& [name, e] : core_->entries) {
    EngineStatus s{name, e->config.backend, e->config.model, kStates[int(e->state)], e->leases};
    if (e->idle_listed) s.idle_seconds = std::chrono::duration<double>(detail::Clock::now() - e->idle_since).count();
    s.load_seconds = e->load_seconds;
    out.push_back(std::move(s));
  }
  return out;
}

void Broker::on_event(std::function<void(const EngineEvent&)> listener) {
  std::lock_guard lock(core_->mu);
  core_->listeners.push_back(std::move(listener));
}

}  // namespace skein
