// A PostgreSQL connection (libpq) with the few calls the cluster makes: statements with text
// parameters, COPY FROM STDIN, transactions, LISTEN/NOTIFY.
//
// Blocking: every call waits on the network. Use a connection from a thread of its own (a
// worker's database thread, a command's main thread), never from a loop. One thread at a time.
// Errors throw pg::Error, whose `lost()` says the connection itself is gone (reconnect: make a
// new Connection) rather than the statement refused.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/error.hpp"

struct pg_conn;
struct pg_result;

namespace skein::pg {

class Error : public skein::Error {
 public:
  // The code is unavailable when transient(), else unknown.
  Error(const std::string& message, std::string sqlstate, bool lost)
      : skein::Error(message, transient(sqlstate, lost) ? ErrorCode::unavailable : ErrorCode::unknown),
        sqlstate_(std::move(sqlstate)),
        lost_(lost) {}
  const std::string& sqlstate() const { return sqlstate_; }  // e.g. "40001"; empty when none
  bool lost() const { return lost_; }
  // Worth another try later: the connection is lost, or the statement met a deadlock or
  // serialization failure, the server short of resources or cancelling statements.
  bool transient() const { return transient(sqlstate_, lost_); }
  static bool transient(const std::string& s, bool lost) {
    return lost || s.rfind("40", 0) == 0 || s.rfind("53", 0) == 0 || s == "55P03" || s == "57014";
  }

 private:
  std::string sqlstate_;
  bool lost_;
};

// A statement's rows, as text. Owns its PGresult.
class Result {
 public:
  explicit Result(pg_result* r);
  int rows() const;
  bool null(int row, int col) const;
  std::string text(int row, int col) const;
  long long integer(int row, int col) const;
  long long affected() const;  // rows changed by an INSERT/UPDATE/DELETE

 private:
  std::shared_ptr<pg_result> r_;
};

using Param = std::optional<std::string>;  // nullopt: NULL

struct Notification {
  std::string channel, payload;
};

// Bytes as a bytea value's text form ("\\x" and two hex digits per byte): a statement parameter.
std::string bytea_text(const std::string& bytes);
// The bytes that encode(bytea, 'hex') ("4142…") spells.
std::string from_hex(const std::string& hex);

class Connection {
 public:
  // `url`: a libpq connection string or URI (postgresql://…). Unless the url (or, for the connect
  // timeout, PGCONNECT_TIMEOUT) says otherwise, over TCP a connect gives up after 10 s per
  // address tried, keepalives find a vanished server on an idle connection in about 25 s, and
  // data the server does not acknowledge for 30 s ends the connection (instead of the system's
  // minutes to hours). A Unix socket has none of these: the server's end closing is seen at once.
  // Throws Error.
  explicit Connection(const std::string& url);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Without parameters `sql` may hold several statements (the last one's rows are returned).
  Result exec(const std::string& sql, const std::vector<Param>& params = {});
  // COPY … FROM STDIN: `next` fills its argument with the next chunk of rows (text format) and
  // returns false when there is none.
  void copy_in(const std::string& sql, const std::function<bool(std::string&)>& next);
  // Runs `f` between BEGIN and COMMIT; ROLLBACK when it throws (and rethrows).
  void transaction(const std::function<void()>& f);
  // Waits up to `timeout` for notifications of the channels LISTENed to; empty when none came.
  // Returns early, with what came so far, when `wake_fd` (if not -1) becomes readable.
  std::vector<Notification> wait(std::chrono::milliseconds timeout, int wake_fd = -1);

 private:
  [[noreturn]] void fail(const std::string& what, pg_result* r = nullptr);
  std::vector<Notification> take_notifications();
  pg_conn* c_;
};

}  // namespace skein::pg
