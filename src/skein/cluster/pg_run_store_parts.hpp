// The PostgreSQL run store's pieces shared by its files (see pg_run_store.hpp): pg_run_store.cpp
// (opening, closing, the writer), pg_run_store_hosts.cpp (the keeper, liveness, ids, take-over)
// and pg_run_store_reads.cpp.
#pragma once
#include <unistd.h>

#include "pg_run_store.hpp"
#include "runtime/run_json.hpp"

namespace skein::cluster {

// A store connection's server-side bounds: the server finds a client that vanished without closing
// its connection in about 25 s over TCP (instead of the system's two hours), ends a transaction left
// open for a minute, and so releases the locks (and the host lock) of a connection that is gone.
inline const char* const kSettings =
    "SET idle_in_transaction_session_timeout = '60s'; SET tcp_keepalives_idle = 10;"
    " SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3; SET tcp_user_timeout = 30000";
// The writer's and the keeper's statements wait at most 30 s for a row lock (then they are tried again).
inline const char* const kLockTimeout = "SET lock_timeout = '30s'";

// This store of this process, across machines.
inline std::string owner_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + runtime::host_identity();
}

// A statement's parameter: a JSON array of records (json_to_recordset) or of strings.
inline pg::Param json_param(const Json& j) { return dumped(j); }

// The session connection's user: `f(connection)` under session_mu_, the connection made again and
// `f` tried once more when it was lost.
template <typename F>
auto PgRunStore::on_session(F&& f) {
  std::lock_guard l(session_mu_);
  for (int attempt = 1;; ++attempt) {
    try {
      if (!session_) open_session();
      return f(*session_);
    } catch (const pg::Error& e) {
      if (!e.lost() || attempt == 2) throw;
      session_.reset();
    }
  }
}

}  // namespace skein::cluster
