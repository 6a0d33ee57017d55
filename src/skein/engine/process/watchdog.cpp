#include "watchdog.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <mutex>
#include <vector>

namespace skein {
namespace {

// The watchdog's loop, in the forked child: only async-signal-safe calls, no allocation (the
// group set is allocated before the fork).
[[noreturn]] void watch(int in, std::vector<uint8_t>& groups) {
  ::setpgid(0, 0);  // group signals meant for Skein's group (Ctrl-C) do not reach it
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  ::dup2(in, 3);
  const int devnull = ::open("/dev/null", O_RDWR);
  ::dup2(devnull, 0), ::dup2(devnull, 1), ::dup2(devnull, 2);
  ::close_range(4, ~0U, 0);  // no other pipe of Skein's stays open here
  const size_t limit = groups.size() * 8;
  int32_t buf[128];
  for (;;) {
    const ssize_t n = ::read(3, buf, sizeof buf);
    if (n == 0) break;  // every write end is closed: Skein is gone
    if (n < 0) continue;
    for (size_t i = 0; i < size_t(n) / 4; ++i) {
      const int32_t v = buf[i];
      const size_t pid = size_t(v < 0 ? -int64_t(v) : v);
      if (pid <= 1 || pid >= limit) continue;
      if (v > 0)
        groups[pid / 8] |= uint8_t(1u << (pid % 8));
      else
        groups[pid / 8] &= uint8_t(~(1u << (pid % 8)));
    }
  }
  for (size_t pid = 2; pid < limit; ++pid)
    if (groups[pid / 8] & (1u << (pid % 8))) ::kill(-pid_t(pid), SIGKILL);
  ::_exit(0);
}

size_t pid_max() {
  std::ifstream in("/proc/sys/kernel/pid_max");
  size_t n = 0;
  return in >> n && n > 0 ? n : 4194304;
}

struct Watchdog {
  int fd = -1;
  Watchdog() {
    ::signal(SIGPIPE, SIG_IGN);  // a write to a dead watchdog must fail, not kill Skein
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    std::vector<uint8_t> groups(pid_max() / 8 + 1);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[1]);
      watch(fds[0], groups);
    }
    ::close(fds[0]);
    if (pid < 0) {
      ::close(fds[1]);
      return;
    }
    ::fcntl(fds[1], F_SETFL, O_NONBLOCK);  // never stall Skein on it
    fd = fds[1];
  }
};

Watchdog& instance() {
  static Watchdog* w = new Watchdog();  // never destroyed: its pipe must stay open until Skein exits
  return *w;
}

}  // namespace

int watchdog_fd() { return instance().fd; }

void watchdog_forget(pid_t pgid) {
  const int fd = instance().fd;
  const int32_t v = -int32_t(pgid);
  if (fd >= 0 && pgid > 1) [[maybe_unused]]
    ssize_t n = ::write(fd, &v, sizeof v);
}

}  // namespace skein
