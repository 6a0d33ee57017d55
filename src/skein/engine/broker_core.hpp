// The broker's state, shared by the Broker and its leases.
//
// Every engine is an entry with a state: stopped -> starting -> ready -> stopping -> stopped.
// A ready entry is either leased (leases > 0) or on the idle list; only idle-list entries are ever
// stopped (by eviction, idle release or flush), so an engine in use cannot be stopped: the pool's
// invariant holds by structure.
//
// Requests that cannot be served at once wait in `queue`, in arrival order. Every change of state
// (a start or stop completed, a lease dropped, a request queued) runs `pump`, which serves the
// queue front to back: a ready engine is leased at once; a stopped one is started when it fits
// (local engines) or at once (remote ones). The first request that needs room which is not there
// blocks the later ones that need room (FIFO), but not those whose engine is ready or remote.
//
// The lock is held only for bookkeeping: starts and stops run on `lifecycle`, completions are
// called after the lock is dropped. What the lock guards is annotated (clang checks it).
// broker_queue.cpp serves the queue; engine_lifecycle.cpp starts, stops and releases engines;
// broker.cpp and lease.cpp are the handles users hold.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "skein/broker.hpp"
#include "skein/mutex.hpp"

namespace skein::detail {

using Clock = std::chrono::steady_clock;

struct BrokerEntry {
  EngineConfig config;
  bool local = true;  // counts toward max_loaded and the memory budget
  EngineState state = EngineState::stopped;
  std::unique_ptr<Engine> engine;
  int leases = 0;
  bool drain = false;  // force-flushed while leased: stop when the last lease drops
  Clock::time_point idle_since;
  double load_seconds = 0;
  bool idle_listed = false;
  std::list<BrokerEntry*>::iterator idle_pos;
  size_t memory = 0;    // while starting, ready or stopping
  size_t estimate = 0;  // its size when loaded: EngineConfig::memory, else the model file's (at add)
  // Serves no new lease: it is stopped once its last lease drops, to make room for `yielding_to`
  // (a request for room that would otherwise wait behind engines that are never idle).
  bool yielding = false;
  std::string yielding_to;
};

inline EngineEvent event(const std::string& engine, EngineEventKind kind, std::string detail, double load = 0) {
  return {std::chrono::system_clock::now(), engine, kind, std::move(detail), load};
}

inline std::exception_ptr engine_error(const std::string& engine, const std::string& message) {
  return std::make_exception_ptr(EngineError(engine, message));
}

// An engine's size for the budget: EngineConfig::memory, else the model file's size (a stat).
size_t estimated_memory(const EngineConfig& config);

// A queued request.
struct Waiter {
  BrokerEntry* entry = nullptr;
  Broker::Completion done;
  std::unique_ptr<boost::asio::steady_timer> deadline;
  std::list<std::shared_ptr<Waiter>>::iterator pos;
  bool queued = false;
};

// Completions collected under the lock, called after it is dropped.
struct Outbox {
  struct Done {
    Broker::Completion fn;
    std::exception_ptr error;
    Lease lease;
  };
  std::vector<Done> done;
  std::vector<EngineEvent> events;
};

struct BrokerCore : std::enable_shared_from_this<BrokerCore> {
  explicit BrokerCore(BrokerOptions o, Broker::Factory f);

  ~BrokerCore();

  BrokerOptions options;
  Broker::Factory factory;
  boost::asio::thread_pool lifecycle;  // engine starts and stops (they may block)
  boost::asio::io_context timers;      // request deadlines and the idle timer: never behind a start
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> timers_work;
  std::thread timers_thread;
  // Guards the entries (and each entry's fields), the queue and the flags below.
  mutable Mutex mu;
  std::condition_variable settled;  // notified when a start or stop completes
  std::map<std::string, std::unique_ptr<BrokerEntry>> entries SKEIN_GUARDED_BY(mu);
  std::list<BrokerEntry*> idle SKEIN_GUARDED_BY(mu);  // ready and unleased, least recently used first
  std::list<std::shared_ptr<Waiter>> queue SKEIN_GUARDED_BY(mu);
  boost::asio::steady_timer idle_timer;
  Clock::time_point idle_timer_at SKEIN_GUARDED_BY(mu) = Clock::time_point::max();
  std::vector<std::function<void(const EngineEvent&)>> listeners SKEIN_GUARDED_BY(mu);
  bool closing SKEIN_GUARDED_BY(mu) = false;
  bool closed SKEIN_GUARDED_BY(mu) = false;  // the lifecycle executor is gone: stops run on the caller
  // Starts and stops whose events are being delivered (settle waits for them): counted under the
  // lock by whoever ends one, before end_transition.
  int delivering SKEIN_GUARDED_BY(mu) = 0;

  using Lock = MutexLock;

  Lease try_lease(const std::string& name) SKEIN_EXCLUDES(mu);
  std::shared_ptr<Waiter> enqueue(const std::string& name, Broker::Completion done,
                                  const std::function<void(std::weak_ptr<void>)>& on_queued) SKEIN_EXCLUDES(mu);
  void cancel(const std::shared_ptr<Waiter>& w) SKEIN_EXCLUDES(mu);
  void release(BrokerEntry* e) SKEIN_EXCLUDES(mu);
  void preload(const std::string& name) SKEIN_EXCLUDES(mu);
  void flush(bool force) SKEIN_EXCLUDES(mu);
  // Fails the queue, stops the idle engines, waits for starts and stops, then reports each engine
  // still leased (an EngineEventKind::leased_at_close event: it stops when its last lease drops).
  void close() SKEIN_EXCLUDES(mu);
  void deliver(Outbox& out) SKEIN_EXCLUDES(mu);
  void deliver_event(const EngineEvent& ev) SKEIN_EXCLUDES(mu);
  bool busy() const SKEIN_REQUIRES(mu);  // an engine is starting or stopping, or their events are on the way
  // Ends a start or stop whose caller counted it in `delivering`: delivers its events, then tells
  // settle(), then calls the completions (which may acquire again, never settle).
  void end_transition(Outbox& out) SKEIN_EXCLUDES(mu);

 private:
  Lease lease(BrokerEntry* e) SKEIN_REQUIRES(mu);
  void pump(Outbox& out) SKEIN_REQUIRES(mu);
  bool has_room(const BrokerEntry* e) const SKEIN_REQUIRES(mu);
  void make_room(const BrokerEntry* e) SKEIN_REQUIRES(mu);
  bool has_waiters(const BrokerEntry* e) const SKEIN_REQUIRES(mu);
  void yield_one(const BrokerEntry* e) SKEIN_REQUIRES(mu);
  void complete(const std::shared_ptr<Waiter>& w, std::exception_ptr e, Lease l, Outbox& out) SKEIN_REQUIRES(mu);
  void fail_waiters_of(BrokerEntry* e, const std::string& message, Outbox& out) SKEIN_REQUIRES(mu);
  void begin_start(BrokerEntry* e) SKEIN_REQUIRES(mu);
  void start_done(BrokerEntry* e, std::unique_ptr<Engine> engine, const std::string& error, double load, Outbox& out)
      SKEIN_REQUIRES(mu);
  void begin_stop(BrokerEntry* e, EngineEventKind kind, const std::string& reason) SKEIN_REQUIRES(mu);
  void stop_done(BrokerEntry* e, EngineEventKind kind, const std::string& reason, Outbox& out) SKEIN_REQUIRES(mu);
  void to_idle(BrokerEntry* e) SKEIN_REQUIRES(mu);
  void unlist_idle(BrokerEntry* e) SKEIN_REQUIRES(mu);
  void arm_idle_timer() SKEIN_REQUIRES(mu);
  void on_idle_timer() SKEIN_EXCLUDES(mu);
  void stop_expired_idle() SKEIN_REQUIRES(mu);

 public:
  void expire(const std::shared_ptr<Waiter>& w) SKEIN_EXCLUDES(mu);
};

}  // namespace skein::detail
