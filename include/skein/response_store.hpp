// Where a chain's response cache keeps engine replies (SPEC §3, §9): by default a SQLite file
// shared by the runs of one machine (RunOptions::cache_file); in a cluster run, the cluster's
// PostgreSQL database, shared by every worker (RunOptions::response_store).
//
// Keys are ResponseCache::key values (a digest of model, messages, output type and sampling); only
// deterministic requests have one.
//
// Thread safety: `lookup` and `keep` are called from a run's loop thread, by many coroutines at
// once. A store across the network must not wait on it: it answers `lookup` by posting back to the
// caller's executor and writes what it is given to keep behind the run's back. The local file
// (ResponseCache) reads and writes in place, on the loop: a SQLite page read or WAL append of
// microseconds, which can wait (up to its busy timeout) while another process commits.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

namespace skein {

class ResponseStore {
 public:
  virtual ~ResponseStore() = default;
  // Completes, on the caller's executor, with the reply kept for `key`, or nothing. A store that
  // cannot answer (its database is away) answers nothing: the engine is asked.
  virtual boost::asio::awaitable<std::optional<std::string>> lookup(std::string key) = 0;
  // Keeps `text` as the reply for `key`. Returns at once; a network store writes it later.
  virtual void keep(std::string key, std::string text) = 0;
};

}  // namespace skein
