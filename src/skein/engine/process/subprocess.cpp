#include "subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "skein/error.hpp"

extern char** environ;

namespace skein {
namespace {

// PR_SET_PDEATHSIG fires when the *thread* that forked exits, so every fork happens on this one
// thread, which lives until the process ends.
class Spawner {
 public:
  static Spawner& instance() {
    static Spawner* s = new Spawner();  // never destroyed: its thread must outlive every child
    return *s;
  }
  template <typename F>
  auto run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    {
      std::lock_guard l(mu_);
      tasks_.push_back([&task] { task(); });
      cv_.notify_one();
    }
    return result.get();
  }

 private:
  Spawner() {
    std::thread([this] { loop(); }).detach();
  }
  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock l(mu_);
        cv_.wait(l, [&] { return !tasks_.empty(); });
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
};

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = dirs.find(':', start);
    const std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  throw Error("program '" + name + "' not found in PATH");
}

std::vector<std::string> environment(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Between fork and exec only async-signal-safe calls.
[[noreturn]] void exec_child(const char* program, char** argv, char** envp, const char* cwd, int in_fd, int out_fd,
                             int err_fd, pid_t parent) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // Skein died before the line above
  const int devnull = ::open("/dev/null", O_RDWR);
  ::dup2(in_fd >= 0 ? in_fd : devnull, 0);
  ::dup2(out_fd >= 0 ? out_fd : devnull, 1);
  ::dup2(err_fd >= 0 ? err_fd : devnull, 2);
  if (cwd && ::chdir(cwd) != 0) ::_exit(126);
  ::execve(program, argv, envp);
  ::_exit(127);
}

}  // namespace

Subprocess Subprocess::spawn(const SpawnOptions& o) {
  if (o.argv.empty()) throw Error("no command to run");
  std::string program = find_program(o.argv[0]);
  std::vector<std::string> args = o.argv, env = environment(o.env);
  int log_fd = -1, pipe_fds[2] = {-1, -1}, in_fds[2] = {-1, -1};
  if (!o.log_file.empty()) {
    std::filesystem::create_directories(std::filesystem::path(o.log_file).parent_path());
    log_fd = ::open(o.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw Error("cannot open log file " + o.log_file + ": " + std::strerror(errno));
  }
  if (o.stdout_pipe && ::pipe2(pipe_fds, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  if (o.stdin_pipe && ::pipe2(in_fds, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = Spawner::instance().run([&] {
    auto argv = pointers(args), envp = pointers(env);
    const pid_t child = ::fork();
    if (child == 0)
      exec_child(program.c_str(), argv.data(), envp.data(), o.cwd.empty() ? nullptr : o.cwd.c_str(), in_fds[0],
                 o.stdout_pipe ? pipe_fds[1] : log_fd, log_fd, parent);
    return child;
  });
  if (log_fd >= 0) ::close(log_fd);
  if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
  if (in_fds[0] >= 0) ::close(in_fds[0]);
  if (pid < 0) {
    if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
    if (in_fds[1] >= 0) ::close(in_fds[1]);
    throw Error("cannot start '" + o.argv[0] + "': " + std::strerror(errno));
  }
  ::setpgid(pid, pid);  // also from here, so the group exists before anyone signals it
  Subprocess p;
  p.pid_ = pid;
  p.pidfd_ = int(::syscall(SYS_pidfd_open, pid, 0));
  p.stdout_fd_ = pipe_fds[0];
  p.stdin_fd_ = in_fds[1];
  return p;
}

Subprocess::Subprocess(Subprocess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      pidfd_(std::exchange(o.pidfd_, -1)),
      stdout_fd_(std::exchange(o.stdout_fd_, -1)),
      stdin_fd_(std::exchange(o.stdin_fd_, -1)),
      status_(o.status_) {}

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  if (this != &o) {
    stop();
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::exchange(o.pidfd_, -1);
    stdout_fd_ = std::exchange(o.stdout_fd_, -1);
    stdin_fd_ = std::exchange(o.stdin_fd_, -1);
    status_ = o.status_;
  }
  return *this;
}

Subprocess::~Subprocess() { stop(); }

int Subprocess::release_stdout() { return std::exchange(stdout_fd_, -1); }

int Subprocess::release_stdin() { return std::exchange(stdin_fd_, -1); }

std::optional<int> Subprocess::poll() {
  if (status_ || pid_ < 0) return status_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
  return status_;
}

bool Subprocess::wait_exit(std::chrono::milliseconds timeout) {
  if (poll()) return true;
  if (pidfd_ >= 0) {
    pollfd p{pidfd_, POLLIN, 0};
    ::poll(&p, 1, int(timeout.count()));
  }
  return poll().has_value();
}

// Signals the child's whole group. The pid is checked, never -1 or 1: kill(-1) would reach every
// process we may signal.
static void signal_group(pid_t group, int sig) {
  if (group > 1) ::kill(-group, sig);
}

void Subprocess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 1) return;
  const pid_t group = pid_;
  if (!poll()) {
    signal_group(group, SIGTERM);
    if (!wait_exit(grace)) signal_group(group, SIGKILL);
    while (!wait_exit(std::chrono::milliseconds(1000))) signal_group(group, SIGKILL);
  }
  signal_group(group, SIGKILL);  // anything the leader left behind in its group
  close_fds();
}

void Subprocess::kill() {
  if (pid_ <= 1) return;
  const pid_t group = pid_;
  signal_group(group, SIGKILL);
  while (!wait_exit(std::chrono::milliseconds(1000))) signal_group(group, SIGKILL);
  // The rest of the group dies as the kernel delivers the signal: wait for that (bounded), so that
  // when kill() returns no process of the group is left.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (process_group_alive(group) && std::chrono::steady_clock::now() < deadline) {
    signal_group(group, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  close_fds();
}

void Subprocess::close_fds() {
  if (pidfd_ >= 0) ::close(pidfd_);
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  pidfd_ = stdout_fd_ = stdin_fd_ = -1;
  pid_ = -1;
}

// A process listing (/proc), not kill(-pgid, 0): a zombie waiting to be reaped is not alive.
bool process_group_alive(pid_t pgid) {
  if (pgid <= 1) return false;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const size_t close = stat.rfind(')');  // the command name may hold spaces and parentheses
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    long ppid = 0, group = 0;
    fields >> state >> ppid >> group;
    if (group == pgid && state != "Z" && state != "X") return true;
  }
  return false;
}

std::string tail_lines(const std::string& path, int n) {
  std::ifstream in(path);
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (int(lines.size()) > n) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace skein
