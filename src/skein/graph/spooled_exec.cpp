#include "spooled_exec.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <fstream>

#include "engine/process/process_slots.hpp"
#include "engine/process/subprocess.hpp"
#include "util/sha256.hpp"

namespace skein {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

using OnProcess = std::function<void(int group, bool running)>;

// Files of one dep in the spool.
struct SpoolFiles {
  fs::path in, out, pid;
};

SpoolFiles files_of(const fs::path& spool, const std::string& dep) {
  const bool plain = !dep.empty() && dep.size() < 100 &&
                     std::all_of(dep.begin(), dep.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
  const std::string stem = plain ? dep : "dep-" + sha256_hex(dep).substr(0, 16);
  return {spool / (stem + ".in"), spool / (stem + ".out"), spool / (stem + ".pid")};
}

// `f()` on the blocking executor; the loop goes on meanwhile.
template <typename F>
asio::awaitable<std::invoke_result_t<F&>> on(asio::any_io_executor ex, F f) {
  using R = std::invoke_result_t<F&>;
  co_return co_await asio::co_spawn(
      ex, [f = std::move(f)]() mutable -> asio::awaitable<R> { co_return f(); }, asio::use_awaitable);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string read_all(int fd) {
  std::string text;
  char buf[65536];
  for (off_t at = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, at);
    if (n <= 0) return text;
    text.append(buf, size_t(n));
    at += n;
  }
}

// Blocking: what `out` holds once nothing writes it any more (empty when there is no such file).
std::string wait_and_read(const fs::path& out) {
  const Fd fd(::open(out.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return {};
  while (::flock(fd.get(), LOCK_SH) != 0 && errno == EINTR) {
  }
  return read_all(fd.get());
}

// The process group of a command still writing `f.out` (from <dep>.pid); 0 when none is.
int writing_group(const SpoolFiles& f) {
  const Fd fd(::open(f.out.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 || ::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return 0;
  int group = 0;
  std::ifstream(f.pid) >> group;
  return group;
}

// The output of a command a host that died started: waited for while it still runs, its process
// group told to `on_process` meanwhile so a cancel reaches it. Empty when there is none.
asio::awaitable<std::string> adopted(const SpoolFiles& f, const OnProcess& on_process, asio::any_io_executor blocking) {
  const int group = writing_group(f);  // a look, not a wait: open, try a lock, read a pid
  if (group > 1 && on_process) on_process(group, true);
  auto read = [&f] { return wait_and_read(f.out); };  // named: GCC 12 destroys some temporaries of a co_await twice
  std::string out = co_await on(blocking, read);
  if (group > 1 && on_process) on_process(group, false);
  co_return out;
}

}  // namespace

asio::awaitable<std::string> run_spooled_exec(const DepSpec& spec, const Json& params, const std::string& cwd,
                                              const OnProcess& on_process, const fs::path& spool,
                                              asio::any_io_executor blocking) {
  const SpoolFiles f = files_of(spool, spec.name);
  std::string got = co_await adopted(f, on_process, blocking);
  if (!got.empty()) co_return got;
  co_await on(blocking, [&] {
    fs::create_directories(spool);
    std::ofstream in(f.in, std::ios::trunc);
    in << params.dump() << "\n";
    if (!in.flush()) throw Error("cannot write " + f.in.string());
    return true;
  });
  ProcessSlot slot = co_await acquire_process_slot();
  SpawnOptions o;
  o.argv = spec.exec;
  o.cwd = cwd;
  o.stdin_file = f.in.string();
  o.stdout_file = f.out.string();
  o.outlive_skein = true;
  Subprocess p = co_await Subprocess::async_spawn(std::move(o));
  const int group = p.pid();
  if (on_process) on_process(group, true);
  struct Ended {
    const OnProcess& tell;
    int group;
    ~Ended() {
      if (tell) tell(group, false);
    }
  } ended{on_process, group};
  co_await on(blocking, [&] {
    std::ofstream(f.pid, std::ios::trunc) << group << "\n";
    return true;
  });
  co_await p.async_wait();
  co_await p.async_stop(std::chrono::milliseconds(100));  // what it left running in its group
  co_return co_await on(blocking, [&] {
    std::ifstream out(f.out);
    return std::string((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  });
}

}  // namespace skein
