// The broker's state, shared by the Broker and its leases.
//
// Every engine is an entry with a state: stopped -> starting -> ready -> stopping -> stopped.
// A ready entry is either leased (leases > 0) or on the idle list; only idle-list entries are ever
// stopped (by eviction, idle release or flush), so an engine in use cannot be stopped: the pool's
// invariant holds by structure. Engines start and stop outside the lock.
#pragma once
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "skein/broker.hpp"

namespace skein::detail {

using Clock = std::chrono::steady_clock;

enum class State { stopped, starting, ready, stopping };

struct BrokerEntry {
  EngineConfig config;
  State state = State::stopped;
  std::unique_ptr<Engine> engine;
  int leases = 0;
  bool drain = false;  // force-flushed while leased: stop when the last lease drops
  Clock::time_point idle_since;
  double load_seconds = 0;
  uint64_t attempt = 0;         // start attempts so far
  uint64_t failed_attempt = 0;  // the attempt that last failed
  std::string last_error;
  bool idle_listed = false;
  std::list<BrokerEntry*>::iterator idle_pos;
  size_t memory = 0;
};

struct BrokerCore : std::enable_shared_from_this<BrokerCore> {
  BrokerOptions options;
  Broker::Factory factory;
  mutable std::mutex mu;
  std::condition_variable changed;  // any state, lease or idle-list change
  std::map<std::string, std::unique_ptr<BrokerEntry>> entries;
  std::list<BrokerEntry*> idle;  // ready and unleased, least recently used first
  std::vector<std::function<void(const EngineEvent&)>> listeners;
  bool closing = false;
  std::thread timer;

  Lease acquire(const std::string& name);
  void release(BrokerEntry* e);
  void flush(bool force);
  void run_timer();
  void close();

 private:
  using Lock = std::unique_lock<std::mutex>;
  Lease lease(BrokerEntry* e);
  Lease start(Lock& lock, BrokerEntry* e);
  void wait_for_start(Lock& lock, BrokerEntry* e, Clock::time_point deadline);
  bool make_room(Lock& lock, BrokerEntry* e, Clock::time_point deadline);
  bool has_room(const BrokerEntry* e) const;
  BrokerEntry* expired_idle(Clock::time_point now) const;
  void stop(Lock& lock, BrokerEntry* e, EngineEventKind kind, const std::string& reason);
  void emit(EngineEvent event);
};

}  // namespace skein::detail
