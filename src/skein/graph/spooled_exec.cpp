#include "spooled_exec.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "engine/process/process_slots.hpp"
#include "engine/process/subprocess.hpp"
#include "util/run_on.hpp"
#include "skein/sha256.hpp"

namespace skein {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

using OnProcess = std::function<void(int group, bool running)>;

// Files of one dep in the spool: its input, output, process group, and the exit status the wrapper
// shell writes once the command has ended (its output is then complete).
struct SpoolFiles {
  fs::path in, out, pid, status;
};

SpoolFiles files_of(const fs::path& spool, const std::string& dep) {
  const bool plain = !dep.empty() && dep.size() < 100 &&
                     std::all_of(dep.begin(), dep.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
  const std::string stem = plain ? dep : "dep-" + sha256_hex(dep).substr(0, 16);
  return {spool / (stem + ".in"), spool / (stem + ".out"), spool / (stem + ".pid"), spool / (stem + ".status")};
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

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Whether a command still writes `out` (holds its lock).
bool being_written(const fs::path& out) {
  const Fd fd(::open(out.c_str(), O_RDONLY | O_CLOEXEC));
  return fd.get() >= 0 && ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0;
}

// What a command that a host that died started printed, once it has ended: waited for on a timer
// while it still runs (its process group told to `on_process` meanwhile, so a cancel reaches it).
// Nothing when it never ended (killed, or never started): it must run.
asio::awaitable<std::optional<std::string>> adopted(const SpoolFiles& f, const OnProcess& on_process,
                                                    asio::any_io_executor blocking) {
  auto running = [&f] { return being_written(f.out) ? std::max(std::atoi(read_file(f.pid).c_str()), 0) : -1; };
  const int group = co_await run_on(blocking, running);  // -1: not running; else its group (0: unknown)
  if (group >= 0) {
    if (group > 1 && on_process) on_process(group, true);
    asio::steady_timer tick(co_await asio::this_coro::executor);
    auto busy = [&f] { return being_written(f.out); };
    while (co_await run_on(blocking, busy)) {
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait(asio::use_awaitable);
    }
    if (group > 1 && on_process) on_process(group, false);
  }
  auto finished = [&f] { return fs::exists(f.status) ? std::optional(read_file(f.out)) : std::nullopt; };
  co_return co_await run_on(blocking, finished);
}

}  // namespace

asio::awaitable<std::string> run_spooled_exec(const DepSpec& spec, const Json& params, const std::string& cwd,
                                              const OnProcess& on_process, const fs::path& spool,
                                              asio::any_io_executor blocking) {
  const SpoolFiles f = files_of(spool, spec.name);
  std::optional<std::string> got = co_await adopted(f, on_process, blocking);
  if (!got) {
    auto prepare = [&] {
      fs::create_directories(spool);
      for (const auto& stale : {f.pid, f.status}) fs::remove(stale);
      std::ofstream in(f.in, std::ios::trunc);
      in << params.dump() << "\n";
      if (!in.flush()) throw Error("cannot write " + f.in.string());
      return true;
    };
    co_await run_on(blocking, prepare);
    ProcessSlot slot = co_await acquire_process_slot();
    SpawnOptions o;
    // A shell around the command writes its exit status once it has ended: the mark of a complete output.
    o.argv = {"/bin/sh", "-c", "\"$@\"; echo $? > \"$0\"", f.status.string()};
    o.argv.insert(o.argv.end(), spec.exec.begin(), spec.exec.end());
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
    auto note_group = [&] {
      std::ofstream(f.pid, std::ios::trunc) << group << "\n";
      return true;
    };
    co_await run_on(blocking, note_group);
    co_await p.async_wait();
    co_await p.async_stop(std::chrono::milliseconds(100));  // what it left running in its group
    auto output = [&] { return read_file(f.out); };
    got = co_await run_on(blocking, output);
  }
  if (!Json::accept(*got)) {  // a failure, also after a resume: the next attempt runs it again
    auto forget = [&] {
      std::string status = read_file(f.status);
      fs::remove(f.status);
      return status.substr(0, status.find('\n'));
    };
    const std::string status = co_await run_on(blocking, forget);
    if (got->empty()) throw Error("command " + spec.exec[0] + " printed nothing (exit status " + status + ")");
  }
  co_return *got;
}

}  // namespace skein
