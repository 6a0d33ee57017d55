// The engine broker: hands out live engines as leases, starting them lazily and releasing them
// when idle (SPEC §2.1).
//
// The invariant everything else rests on: an engine with a live lease is never stopped, evicted or
// flushed. It is kept by structure, not by checks: only engines on the idle list (no lease) can be
// stopped, and an engine joins that list only when its last lease is dropped.
//
// All methods are thread-safe. Engine starts run on the thread that first asks for the engine
// (single flight: concurrent acquirers of a starting engine wait for that one start); engine
// stops run outside the broker's lock.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "skein/engine.hpp"
#include "skein/engine_config.hpp"

namespace skein {

namespace detail {
struct BrokerCore;
struct BrokerEntry;
}  // namespace detail

// A live engine. Move-only; dropping it gives the engine back. A lease keeps the broker's state
// alive, so it may outlive the Broker object (the engine is then stopped when the lease drops).
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  explicit operator bool() const { return engine_ != nullptr; }
  Engine& engine() const { return *engine_; }
  Engine* operator->() const { return engine_; }
  const std::string& name() const;
  void release();  // gives the engine back now; the lease is then empty

 private:
  friend struct detail::BrokerCore;
  Lease(std::shared_ptr<detail::BrokerCore> core, detail::BrokerEntry* entry, Engine* engine)
      : core_(std::move(core)), entry_(entry), engine_(engine) {}
  std::shared_ptr<detail::BrokerCore> core_;
  detail::BrokerEntry* entry_ = nullptr;
  Engine* engine_ = nullptr;
};

enum class EngineEventKind { starting, started, start_failed, released, evicted };
const char* to_string(EngineEventKind k);

struct EngineEvent {
  std::chrono::system_clock::time_point at;
  std::string engine;
  EngineEventKind kind;
  std::string detail;       // the error of a failed start, the reason of a release
  double load_seconds = 0;  // for `started`
};

struct EngineStatus {
  std::string name, backend, model;
  std::string state;  // stopped | starting | ready | stopping
  int leases = 0;
  double idle_seconds = 0;  // since the last lease was dropped (ready, unleased engines)
  double load_seconds = 0;
};

struct BrokerOptions {
  int max_loaded = 3;        // engines loaded (or starting) at once
  size_t memory_budget = 0;  // bytes; 0 = no budget. An engine's size: EngineConfig::memory
  std::chrono::milliseconds acquire_timeout{std::chrono::minutes(10)};  // wait for room before failing
};

class Broker {
 public:
  using Factory = std::function<std::unique_ptr<Engine>(const EngineConfig&)>;

  explicit Broker(BrokerOptions options = {}, Factory factory = start_engine);
  ~Broker();  // stops every engine; REQUIRES: no lease is alive
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Declares (or redeclares, while stopped) an engine.
  void add(EngineConfig config);
  bool contains(const std::string& name) const;

  // A lease on `name`, starting it if needed. Throws EngineError when the start fails (every
  // concurrent waiter gets that error; the next acquire tries again), when there is no room within
  // acquire_timeout, or for an unknown name.
  Lease acquire(const std::string& name);

  // Releases engines without leases that have been idle past their keep_alive; with force, every
  // engine without a lease now and each leased one as soon as its last lease drops.
  void flush(bool force);

  std::vector<EngineStatus> status() const;

  // Lifecycle events, delivered on the thread that caused them, outside the broker's lock.
  void on_event(std::function<void(const EngineEvent&)> listener);

 private:
  std::shared_ptr<detail::BrokerCore> core_;
};

}  // namespace skein
