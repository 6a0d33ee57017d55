// The response cache of a cluster run (SPEC §9): engine replies kept in the cluster's PostgreSQL
// database (table skein_responses), shared by every worker, so a shard retried after its worker
// died repeats no call an earlier attempt kept, and a re-run of a chain makes no engine call.
//
// Threads: one database thread with a connection of its own (made when the store starts, made
// again with back-off, 100 ms doubling to 5 s, when lost). lookup() and keep() only queue and wake
// it, so a run's loop never waits on the network itself: the thread answers every lookup queued
// since its last round trip with one SELECT (posting each answer to its caller's executor), and
// writes the replies given to keep behind the run, in multi-row INSERTs of at most 500 replies
// (ON CONFLICT DO NOTHING: the first reply kept for a key stays), answering lookups between them.
// While the connection is lost, lookups are answered "nothing" (the engine is asked) and replies
// wait for the next connection; beyond kMaxWaiting waiting replies the oldest are given up. A
// lookup may wait for one reconnect attempt (up to the connect timeout) or one INSERT in flight
// (on a silently dead connection until TCP gives up, about 30 s: see pg.hpp). A chunk the
// database refuses for good is given up; a deadlock, a lack of resources or a lost connection is
// tried again after the back-off (a chunk whose statement fails 5 times in a row is given up).
//
// flush() blocks; call it from a plain thread (a worker before it commits a shard), never a loop.
// Thread-safe.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
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
  // Writes what waits (one more connect attempt if the connection is lost; what still cannot be
  // written is given up), then ends its thread.
  ~PgResponseStore() override;
  PgResponseStore(const PgResponseStore&) = delete;
  PgResponseStore& operator=(const PgResponseStore&) = delete;

  boost::asio::awaitable<std::optional<std::string>> lookup(std::string key) override;
  void keep(std::string key, std::string text) override;

  // Waits up to `timeout` until no reply waits to be written (each is written, or given up:
  // refused, or beyond kMaxWaiting), trying to connect at once if the connection is lost. False
  // when the time ran out.
  bool flush(std::chrono::milliseconds timeout);

 private:
  struct Lookup {
    std::string key;
    std::function<void(std::optional<std::string>)> answer;  // posts to the caller's executor
  };
  using Reply = std::pair<std::string, std::string>;
  enum class Outcome { written, again, refused };

  // The database thread's.
  void loop();
  std::vector<Reply> take_chunk();  // under mu_
  void give_up_beyond_cap();        // under mu_: the oldest waiting replies beyond kMaxWaiting
  void answer(std::vector<Lookup>& lookups);
  Outcome write(const std::vector<Reply>& chunk, bool force);
  pg::Connection* connection(bool force);  // null while lost (in back-off unless `force`)
  void lost(const pg::Error& e);

  const std::string url_;
  mutable std::mutex mu_;
  std::condition_variable wake_, written_;
  std::vector<Lookup> lookups_;
  std::deque<Reply> waiting_;          // oldest first
  size_t writing_ = 0;                 // replies taken by the database thread, not yet written or given back
  bool stop_ = false, force_ = false;  // force_: try to connect now, back-off or not
  // Database thread only.
  std::unique_ptr<pg::Connection> db_;
  std::chrono::steady_clock::time_point away_until_{};
  std::chrono::milliseconds backoff_{100};
  int failures_ = 0;    // of the front chunk's statement, in a row
  std::thread thread_;  // last: starts once the rest is made
};

}  // namespace skein::cluster
