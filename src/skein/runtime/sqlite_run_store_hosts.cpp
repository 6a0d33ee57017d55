// The SQLite run store's hosts (see sqlite_run_store.hpp): each host's identity and lock file, the runs of hosts
// that are gone marked CRASHED when a store opens, ids unique across hosts, and a finished run
// taken over by the host that resumes it.
#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>

#include "sqlite_run_store.hpp"
#include "util/sqlite.hpp"

namespace skein::runtime {

// Held while this store is open: another host that can take it knows this one is gone.
void SqliteRunStore::hold_host_lock() {
  std::filesystem::create_directories(hosts_);
  const auto path = hosts_ / (owner_ + ".lock");
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    throw Error("run store: cannot lock " + path.string() + ": " + std::strerror(errno));
}

// Whether the host `owner` still has its store open (it holds its lock file).
bool SqliteRunStore::host_alive(const std::string& owner) const {
  if (owner.empty() || owner.find('/') != std::string::npos) return false;
  const auto path = hosts_ / (owner + ".lock");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno != ENOENT;  // no lock file: gone; cannot look (EACCES, EMFILE): assume alive
  const bool alive = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  if (!alive) std::filesystem::remove(path);  // ours now, and its host is gone: tidy it away
  ::close(fd);
  return alive;
}

// The unfinished runs of hosts that are gone (killed, crashed) become CRASHED; a live host's runs
// are its own.
void SqliteRunStore::mark_crashed() {
  std::vector<std::string> dead;
  {
    Statement q(*db_, fmt::format("SELECT DISTINCT coalesce(owner, '') FROM runs WHERE {}", kUnfinished).c_str());
    while (q.step())
      if (const std::string owner = q.text(0); owner != owner_ && !host_alive(owner)) dead.push_back(owner);
  }
  for (const auto& owner : dead) {
    Statement q(*db_, fmt::format("SELECT id FROM runs WHERE coalesce(owner, '') = ?1 AND {}", kUnfinished).c_str());
    q.bind(1, owner);
    while (q.step()) crashed_.push_back(q.text(0));
    Statement u(*db_, fmt::format("UPDATE runs SET state = 'CRASHED', body = json_set(body, '$.state', 'CRASHED',"
                                  " '$.error', ?2)"
                                  " WHERE coalesce(owner, '') = ?1 AND {}",
                                  kUnfinished)
                          .c_str());
    u.bind(1, owner).bind(2, std::string(kCrashedError)).step();
  }
}

int64_t SqliteRunStore::reserve_ids(const char* kind, int64_t n) {
  MutexLock d(db_mu_);
  return db_->write_transaction([&]() SKEIN_REQUIRES(db_mu_) {
    Statement q(*db_,
                "INSERT INTO counters (kind, last) VALUES (?1, ?2)"
                " ON CONFLICT(kind) DO UPDATE SET last = last + ?2 RETURNING last");
    q.bind(1, std::string(kind)).bind(2, n);
    if (!q.step()) db_->fail();
    return q.integer(0);
  });
}

// When the store closes: the ids of a block not handed out go back to the counter, unless another
// host took ids after the block (then they are skipped).
void SqliteRunStore::return_unused_ids() {
  ids_.give_back([&](const char* counter, int64_t next, int64_t end) {
    try {
      MutexLock d(db_mu_);
      Statement q(*db_, "UPDATE counters SET last = ?1 WHERE kind = ?2 AND last = ?3");
      q.bind(1, next).bind(2, std::string(counter)).bind(3, end).step();
    } catch (const std::exception&) {  // busy: they are skipped
    }
  });
}

std::set<std::string> SqliteRunStore::adopt(const std::vector<std::string>& ids) {
  MutexLock d(db_mu_);
  return db_->write_transaction([&]() SKEIN_REQUIRES(db_mu_) {
    Statement u(*db_,
                "UPDATE runs SET owner = ?2, state = 'PENDING', body = json_set(body, '$.state', 'PENDING'),"
                " updated = unixepoch() WHERE id = ?1 AND state IN ('CRASHED', 'FAILED', 'CANCELLED')");
    std::set<std::string> taken;
    for (const auto& id : ids) {
      u.bind(1, id).bind(2, owner_).step();
      if (sqlite3_changes(db_->handle()) == 1) taken.insert(id);
      u.reset();
    }
    return taken;
  });
}

}  // namespace skein::runtime
