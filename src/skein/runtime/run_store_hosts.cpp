// The run store's hosts (see run_store.hpp): each host's identity and lock file, the runs of hosts
// that are gone marked CRASHED when a store opens, ids unique across hosts, and a finished run
// taken over by the host that resumes it.
#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "run_store.hpp"
#include "util/sqlite.hpp"

namespace skein::runtime {

// This store of this process, unique even after the pid is reused or the machine restarted:
// "<pid>-<process start time in ticks>-<boot id>-<n>", n counting the stores the process opened.
std::string RunStore::host_identity() {
  static std::atomic<int> opened{0};
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The 22nd field, counted after the command's closing parenthesis (which may hold spaces).
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
  }
  std::string boot;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot;
  return std::to_string(::getpid()) + "-" + field + "-" + boot.substr(0, 8) + "-" + std::to_string(++opened);
}

// Held while this store is open: another host that can take it knows this one is gone.
void RunStore::hold_host_lock() {
  std::filesystem::create_directories(hosts_);
  const auto path = hosts_ / (owner_ + ".lock");
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    throw Error("run store: cannot lock " + path.string() + ": " + std::strerror(errno));
}

// Whether the host `owner` still has its store open (it holds its lock file).
bool RunStore::host_alive(const std::string& owner) const {
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
void RunStore::mark_crashed() {
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
                                  " '$.error', 'Skein stopped while the run was unfinished')"
                                  " WHERE coalesce(owner, '') = ?1 AND {}",
                                  kUnfinished)
                          .c_str());
    u.bind(1, owner).step();
  }
}

// Ids come one at a time while submits are sparse. A block used up within 100 ms of its arrival
// doubles the next one, within a second keeps its size, later starts again from one (so a burst of
// n runs costs about log2(n) + n / kMaxIdBlock transactions).
std::string RunStore::allocate_id(char kind) {
  std::lock_guard l(ids_mu_);
  IdBlock& b = ids_[kind == 'g' ? 0 : 1];
  if (b.next == b.end) {
    const int64_t used_in = now_ns() - b.taken_ns;
    b.size = used_in < 100'000'000 ? std::min(2 * b.size, kMaxIdBlock) : used_in < 1'000'000'000 ? b.size : 1;
    b.end = reserve_ids(kind == 'g' ? "graph" : "chain", b.size);
    b.next = b.end - b.size;
    b.taken_ns = now_ns();
  }
  return std::string(1, kind) + std::to_string(++b.next);
}

int64_t RunStore::reserve_ids(const char* kind, int64_t n) {
  std::lock_guard d(db_mu_);
  return db_->write_transaction([&] {
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
void RunStore::return_unused_ids() {
  std::lock_guard l(ids_mu_);
  for (int i = 0; i < 2; ++i) {
    const IdBlock& b = ids_[i];
    if (b.next == b.end) continue;
    try {
      std::lock_guard d(db_mu_);
      Statement q(*db_, "UPDATE counters SET last = ?1 WHERE kind = ?2 AND last = ?3");
      q.bind(1, b.next).bind(2, std::string(i == 0 ? "graph" : "chain")).bind(3, b.end).step();
    } catch (const std::exception&) {  // busy: they are skipped
    }
  }
}

std::set<std::string> RunStore::adopt(const std::vector<std::string>& ids) {
  std::lock_guard d(db_mu_);
  return db_->write_transaction([&] {
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
