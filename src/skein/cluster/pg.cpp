#include "pg.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace skein::pg {

Result::Result(pg_result* r) : r_(r, PQclear) {}
int Result::rows() const { return PQntuples(r_.get()); }
bool Result::null(int row, int col) const { return PQgetisnull(r_.get(), row, col); }
std::string Result::text(int row, int col) const {
  return std::string(PQgetvalue(r_.get(), row, col), size_t(PQgetlength(r_.get(), row, col)));
}
long long Result::integer(int row, int col) const { return std::stoll(text(row, col)); }
long long Result::affected() const {
  const char* n = PQcmdTuples(r_.get());
  return *n ? std::stoll(n) : 0;
}

std::string bytea_text(const std::string& bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + 2 * bytes.size());
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string from_hex(const std::string& hex) {
  auto nibble = [](char h) { return h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10; };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += char(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
  return out;
}

namespace {

// Our defaults come before the url (dbname, expanded): libpq keeps the last value of a keyword,
// so whatever the url sets wins. PGCONNECT_TIMEOUT, the one of them with an environment variable,
// is left to libpq when set.
pg_conn* connect(const std::string& url) {
  const char* env_timeout = std::getenv("PGCONNECT_TIMEOUT");
  const bool own_timeout = !(env_timeout && *env_timeout);
  std::vector<const char*> keys = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                                   "tcp_user_timeout"};
  std::vector<const char*> values = {"1", "10", "5", "3", "30000"};
  if (own_timeout) keys.push_back("connect_timeout"), values.push_back("10");
  keys.insert(keys.end(), {"dbname", nullptr});
  values.insert(values.end(), {url.c_str(), nullptr});
  return PQconnectdbParams(keys.data(), values.data(), 1);
}

}  // namespace

Connection::Connection(const std::string& url) : c_(connect(url)) {
  if (PQstatus(c_) != CONNECTION_OK) {
    const std::string why = c_ ? PQerrorMessage(c_) : "out of memory";
    PQfinish(c_);
    c_ = nullptr;
    throw Error("cannot connect to PostgreSQL: " + why, "", true);
  }
  PQsetNoticeProcessor(
      c_, [](void*, const char*) {}, nullptr);  // NOTICEs ("already exists") are not errors
}

Connection::~Connection() { PQfinish(c_); }

void Connection::fail(const std::string& what, pg_result* r) {
  std::string message = what + ": " + (r ? PQresultErrorMessage(r) : PQerrorMessage(c_));
  while (!message.empty() && message.back() == '\n') message.pop_back();
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  if (r) PQclear(r);
  // No SQLSTATE: libpq's own error (the server went away mid-statement); class 08: connection
  // exceptions; 57P0x: the server shutting down or starting.
  const bool lost = PQstatus(c_) != CONNECTION_OK || sqlstate.empty() || sqlstate.rfind("08", 0) == 0 ||
                    sqlstate.rfind("57P0", 0) == 0;
  throw Error(message, std::move(sqlstate), lost);
}

Result Connection::exec(const std::string& sql, const std::vector<Param>& params) {
  std::vector<const char*> values;
  for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
  // Without parameters, PQexec: it also takes several statements separated by semicolons.
  pg_result* r = values.empty()
                     ? PQexec(c_, sql.c_str())
                     : PQexecParams(c_, sql.c_str(), int(values.size()), nullptr, values.data(), nullptr, nullptr, 0);
  const ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) fail("PostgreSQL refused a statement", r);
  return Result(r);
}

void Connection::copy_in(const std::string& sql, const std::function<bool(std::string&)>& next) {
  pg_result* r = PQexec(c_, sql.c_str());
  if (!r || PQresultStatus(r) != PGRES_COPY_IN) fail("PostgreSQL refused a COPY", r);
  PQclear(r);
  std::string chunk;
  while (next(chunk)) {
    if (!chunk.empty() && PQputCopyData(c_, chunk.data(), int(chunk.size())) != 1) fail("COPY failed");
    chunk.clear();
  }
  if (PQputCopyEnd(c_, nullptr) != 1) fail("COPY failed");
  r = PQgetResult(c_);
  const bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) {
    while (pg_result* more = PQgetResult(c_)) PQclear(more);
    fail("COPY failed", r);
  }
  PQclear(r);
  while (pg_result* more = PQgetResult(c_)) PQclear(more);
}

void Connection::transaction(const std::function<void()>& f) {
  exec("BEGIN");
  try {
    f();
  } catch (...) {
    if (PQstatus(c_) == CONNECTION_OK) PQclear(PQexec(c_, "ROLLBACK"));
    throw;
  }
  exec("COMMIT");
}

std::vector<Notification> Connection::take_notifications() {
  std::vector<Notification> out;
  while (PGnotify* n = PQnotifies(c_)) {
    out.push_back({n->relname, n->extra});
    PQfreemem(n);
  }
  return out;
}

std::vector<Notification> Connection::wait(std::chrono::milliseconds timeout, int wake_fd) {
  if (!PQconsumeInput(c_)) fail("connection lost");
  if (auto ready = take_notifications(); !ready.empty()) return ready;
  pollfd p[2] = {{PQsocket(c_), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  if (p[0].fd < 0) fail("connection lost");
  int n;
  do n = ::poll(p, wake_fd >= 0 ? 2 : 1, int(timeout.count()));
  while (n < 0 && errno == EINTR);
  if (n > 0 && (p[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(c_)) fail("connection lost");
  return take_notifications();
}

}  // namespace skein::pg
