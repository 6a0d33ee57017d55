// The response cache of a cluster run (SPEC §9): engine replies kept in the cluster's PostgreSQL
// database (table skein_responses), shared by every worker, so a shard retried after its worker
// died repeats no call an earlier attempt kept, and a re-run of a chain makes no engine call.
//
// Threads: one database thread with a connection of its own (made on first use, made again with
// back-off, 100 ms doubling to 5 s, when lost). lookup() and keep() only queue and wake it, so a
// run's loop never waits on the network: the thread answers every lookup queued since its last
// round trip with one SELECT (posting each answer to its caller's executor) and writes the replies
// given to keep in multi-row INSERTs (ON CONFLICT DO NOTHING: the first reply kept for a key
// stays). While the database is away, lookups are answered "nothing" at once (the engine is asked)
// and replies to keep wait for the next connection, up to kMaxWaiting of them.
//
// flush() blocks; call it from a plain thread (a worker before it commits a shard), never a loop.
// Thread-safe.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pg.hpp"
#include "skein/response_store.hpp"

namespace skein::cluster {

class PgResponseStore final : public ResponseStore {
 public:
  static constexpr size_t kMaxWaiting = 100000;

  explicit PgResponseStore(std::string url);
  ~PgResponseStore() override;  // writes what waits if the database is there, then ends its thread
  PgResponseStore(const PgResponseStore&) = delete;
  PgResponseStore& operator=(const PgResponseStore&) = delete;

  boost::asio::awaitable<std::optional<std::string>> lookup(std::string key) override;
  void keep(std::string key, std::string text) override;

  // Waits up to `timeout` until no reply waits to be written (each is written, or given up:
  // refused, or beyond kMaxWaiting). False when the time ran out.
  bool flush(std::chrono::milliseconds timeout);

  struct Stats {
    long long hits = 0, misses = 0, written = 0, dropped = 0;
  };
  Stats stats() const;

 private:
  struct Lookup {
    std::string key;
    std::function<void(std::optional<std::string>)> answer;  // posts to the caller's executor
  };
  using Reply = std::pair<std::string, std::string>;

  void loop();
  void answer(std::vector<Lookup>& lookups);      // database thread
  bool write(const std::vector<Reply>& replies);  // database thread; false: the database is away
  pg::Connection* connection();                   // database thread; null while away
  void lost(const pg::Error& e);                  // database thread

  const std::string url_;
  mutable std::mutex mu_;
  std::condition_variable wake_, written_;
  std::vector<Lookup> lookups_;
  std::vector<Reply> waiting_;
  size_t writing_ = 0;  // replies taken by the database thread, not yet written or given back
  Stats stats_;
  bool stop_ = false;
  // Database thread only.
  std::unique_ptr<pg::Connection> db_;
  std::chrono::steady_clock::time_point away_until_{};
  std::chrono::milliseconds backoff_{100};
  std::thread thread_;  // last: starts once the rest is made
};

}  // namespace skein::cluster
