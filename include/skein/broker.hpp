// The engine broker: hands out live engines as leases, starting them lazily and releasing them
// when idle (SPEC §2.1).
//
// The invariant everything else rests on: an engine with a live lease is never stopped, evicted or
// flushed. It is kept by structure, not by checks: only engines on the idle list (no lease) can be
// stopped, and an engine joins that list only when its last lease is dropped.
//
// Threads (see skein/executors.hpp for the whole table):
//   - `async_acquire` never blocks its caller. A request that cannot be served now joins the
//     broker's FIFO queue (at most `max_queue` requests; past it the request fails at once) and
//     completes on the caller's executor, by `post`, when its engine is ready.
//   - Engine starts (the backend factory: model loads, server spawns and health polls) and stops
//     (engine destruction) run on the broker's own lifecycle executor, never on a caller's thread.
//   - The idle timer runs on that executor too.
//   - Every method is thread-safe and returns at once, except `acquire` and `settle`, which block
//     and are for tools and tests only (never call them on a loop thread).
#pragma once
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/cross_thread_completion.hpp"
#include "skein/engine.hpp"
#include "skein/engine_config.hpp"
#include "skein/enum_names.hpp"

namespace skein {

namespace detail {
struct BrokerCore;
struct BrokerEntry;
}  // namespace detail

// A live engine. Move-only; dropping it gives the engine back (never blocks: a stop it causes runs
// on the broker's lifecycle executor). A lease keeps the broker's state alive, so it may outlive
// the Broker object (the engine is then stopped on the dropping thread when the lease drops).
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

// leased_at_close: the broker closed while the engine was leased (it stops when its last lease
// drops); a lease on its way to a request's completion counts as leased.
enum class EngineEventKind { starting, started, start_failed, released, evicted, leased_at_close };
const char* to_string(EngineEventKind k);
template <>
struct EnumCount<EngineEventKind> {
  static constexpr int value = 6;
};

// stopped -> starting -> ready -> stopping -> stopped; a failed start goes back to stopped.
enum class EngineState { stopped, starting, ready, stopping };
const char* to_string(EngineState state);  // stopped, starting, ready, stopping
template <>
struct EnumCount<EngineState> {
  static constexpr int value = 4;
};

struct EngineEvent {
  std::chrono::system_clock::time_point at;
  std::string engine;
  EngineEventKind kind;
  std::string detail;       // the error of a failed start, the reason of a release
  double load_seconds = 0;  // for `started`
};

struct EngineStatus {
  std::string name, backend, model;
  EngineState state = EngineState::stopped;
  int leases = 0;
  double idle_seconds = 0;  // since the last lease was dropped (ready, unleased engines)
  double load_seconds = 0;
  bool local = true;  // holds local resources: counts toward max_loaded and the memory budget
};

struct BrokerOptions {
  // Engines holding local resources (llama, llama-server, vllm) loaded or starting at once.
  // Remote endpoints (openai, ollama, cli) do not count, are never evicted and never wait for room.
  int max_loaded = 3;
  size_t memory_budget = 0;  // bytes; 0 = no budget. An engine's size: EngineConfig::memory, else its model file's
  std::chrono::milliseconds acquire_timeout{std::chrono::minutes(10)};  // bounds any wait in the queue
  size_t max_queue = 512;        // requests waiting at once; one more fails at once
  size_t lifecycle_threads = 4;  // engine starts and stops that may run at once
};

// `base` with the limits that are set (a file's `broker:`, the command line) applied.
BrokerOptions broker_options(const BrokerLimits& limits, BrokerOptions base = {});

// Whether `backend` holds local resources (counts toward max_loaded and the memory budget).
bool backend_is_local(const std::string& backend);

class Broker {
 public:
  using Factory = std::function<std::unique_ptr<Engine>(const EngineConfig&)>;
  using Completion = std::function<void(std::exception_ptr, Lease)>;

  // The factory runs on the lifecycle executor and may block (load a model, poll a server).
  explicit Broker(BrokerOptions options = {}, Factory factory = start_engine);
  // Fails every queued request, stops every idle engine and waits for starts and stops in progress
  // (blocks). A lease still alive is reported (a leased_at_close event per engine) and its engine
  // stops on the thread that drops it, when the last one drops.
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Declares (or redeclares, while stopped) an engine.
  void add(EngineConfig config);
  bool contains(const std::string& name) const;
  // The configuration declared under `name`, if any.
  std::optional<EngineConfig> config(const std::string& name) const;
  const BrokerOptions& options() const;

  // A lease on `name`, starting the engine if needed (single flight: concurrent requests of a
  // starting engine wait for that one start). Completes on the handler's executor with
  // (exception_ptr, Lease); the error is an EngineError when the start fails (every request waiting
  // for that start gets it; the next request tries again), when no room frees up within
  // acquire_timeout, when max_queue requests already wait, or for an unknown name. Never blocks.
  // An Asio cancellation (e.g. of the awaiting coroutine) takes a queued request out of the queue
  // and completes it with operation_aborted.
  template <typename CompletionToken>
  auto async_acquire(const std::string& name, CompletionToken&& token);

  // The same, blocking the calling thread until it completes: for tools and tests, never a loop.
  Lease acquire(const std::string& name);

  // Starts `name` now if it is stopped (lazy: false), with no lease; never blocks.
  void preload(const std::string& name);

  // Releases engines without leases that have been idle past their keep_alive; with force, every
  // engine without a lease now and each leased one as soon as its last lease drops. The stops run
  // on the lifecycle executor: flush returns at once (see settle).
  void flush(bool force);

  // Blocks until no engine is starting or stopping and the events of the starts and stops that
  // ended have reached the listeners (tools and tests, the end of a command).
  void settle();

  std::vector<EngineStatus> status() const;

  // Lifecycle events, delivered on the lifecycle executor (leased_at_close on the thread destroying
  // the broker; released on the thread dropping a lease after the broker is gone), outside the
  // broker's lock. Listeners must be thread-safe, and what they capture must outlive the broker:
  // its destructor stops the engines, and those events come too. A listener must not call
  // settle(), destroy the broker, or wait for a thread that does: settle() waits for listeners.
  void on_event(std::function<void(const EngineEvent&)> listener);

 private:
  // The type-erased path of async_acquire: queue `done` (called once, from any thread, outside
  // the broker's lock) or fail it. `on_queued` gets the queued request's handle (for cancel()),
  // under the broker's lock, before the request can complete.
  std::shared_ptr<void> enqueue(const std::string& name, Completion done,
                                const std::function<void(std::weak_ptr<void>)>& on_queued);
  static void cancel(const std::weak_ptr<detail::BrokerCore>& core, const std::weak_ptr<void>& waiter);
  // The fast path: a lease on a ready, alive engine that nobody waits for; empty otherwise.
  Lease try_lease(const std::string& name);

  std::shared_ptr<detail::BrokerCore> core_;
};

// Declares `engines` in `broker` (and `local`, unless declared or already there) and starts the
// ones with `lazy: false` (Broker::preload; never blocks). An engine name another file declared
// differently is refused with a ConfigError (ALREADY_EXISTS) quoting both file:line, before any
// engine is declared; the same file may redeclare its own (a reload), and a file may replace one
// declared without a file (the built-in `local`).
void declare_engines(Broker& broker, const std::map<std::string, EngineConfig>& engines);

template <typename CompletionToken>
auto Broker::async_acquire(const std::string& name, CompletionToken&& token) {
  namespace asio = boost::asio;
  return asio::async_initiate<CompletionToken, void(std::exception_ptr, Lease)>(
      [this](auto handler, const std::string& engine) {
        if (Lease ready = try_lease(engine)) {  // warm: no queue, no allocation beyond the post
          const auto ex = asio::get_associated_executor(handler);
          asio::post(ex, [h = std::move(handler), l = std::move(ready)]() mutable {
            std::move(h)(std::exception_ptr(), std::move(l));
          });
          return;
        }
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto done = detail::cross_thread_completion(std::move(handler));
        // The cancel handler is in place, under the broker's lock, before the request can complete.
        auto on_queued = [slot, core = std::weak_ptr<detail::BrokerCore>(core_)](std::weak_ptr<void> waiter) mutable {
          if (slot.is_connected()) slot.assign([core, waiter](asio::cancellation_type) { cancel(core, waiter); });
        };
        enqueue(engine, std::move(done), on_queued);
      },
      token, name);
}

}  // namespace skein
