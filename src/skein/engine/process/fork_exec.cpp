#include "fork_exec.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "skein/error.hpp"
#include "watchdog.hpp"

extern char** environ;

namespace skein {
namespace {

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
// `watchdog` < 0 with `outlive`: the child is on its own once started.
[[noreturn]] void exec_child(const char* program, char** argv, char** envp, const char* cwd, int in_fd, int out_fd,
                             int err_fd, pid_t parent, int watchdog, bool outlive) {
  ::setpgid(0, 0);
  if (!outlive) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // Skein died before the line above
    const int32_t self = int32_t(::getpid());
    // Announced first. A watchdog that is gone is no reason not to run: PR_SET_PDEATHSIG still holds.
    if (watchdog >= 0) [[maybe_unused]]
      ssize_t n = ::write(watchdog, &self, sizeof self);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Skein ignores SIGPIPE (and a host shutting down ignores SIGINT, SIGTERM, SIGHUP), and ignored
  // signals survive exec: the program gets the usual defaults.
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
  const int devnull = ::open("/dev/null", O_RDWR);
  ::dup2(in_fd >= 0 ? in_fd : devnull, 0);
  ::dup2(out_fd >= 0 ? out_fd : devnull, 1);
  ::dup2(err_fd >= 0 ? err_fd : devnull, 2);
  ::close_range(3, ~0U, 0);  // no other descriptor of Skein's (pidfds, the shell's pipes) leaks into it
  if (cwd && ::chdir(cwd) != 0) ::_exit(126);
  ::execve(program, argv, envp);
  ::_exit(127);
}

// A child's output file, truncated and locked (the lock belongs to the open file, which the child
// inherits as its stdout: it is held until the last process with that stdout ends).
int locked_output(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || ::ftruncate(fd, 0) != 0) {  // truncated only once ours
    ::close(fd);
    throw Error(path + " is held by a process still running");
  }
  return fd;
}

}  // namespace

Launched fork_exec(const SpawnOptions& o) {
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
  if (!o.stdout_file.empty()) pipe_fds[1] = locked_output(o.stdout_file);
  if (o.stdin_pipe && ::pipe2(in_fds, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  if (!o.stdin_file.empty() && (in_fds[0] = ::open(o.stdin_file.c_str(), O_RDONLY | O_CLOEXEC)) < 0) {
    const std::string why = std::strerror(errno);
    for (int fd : {log_fd, pipe_fds[0], pipe_fds[1]})
      if (fd >= 0) ::close(fd);
    throw Error("cannot read " + o.stdin_file + ": " + why);
  }
  const pid_t parent = ::getpid();
  const int watchdog = watchdog_fd();
  auto argv = pointers(args), envp = pointers(env);
  const pid_t pid = ::fork();
  if (pid == 0)
    exec_child(program.c_str(), argv.data(), envp.data(), o.cwd.empty() ? nullptr : o.cwd.c_str(), in_fds[0],
               pipe_fds[1] >= 0 ? pipe_fds[1] : log_fd, log_fd, parent, o.outlive_skein ? -1 : watchdog,
               o.outlive_skein);
  const int fork_errno = errno;
  if (log_fd >= 0) ::close(log_fd);
  if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
  if (in_fds[0] >= 0) ::close(in_fds[0]);
  if (pid < 0) {
    if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
    if (in_fds[1] >= 0) ::close(in_fds[1]);
    throw Error("cannot start '" + o.argv[0] + "': " + std::strerror(fork_errno));
  }
  ::setpgid(pid, pid);  // also from here, so the group exists before anyone signals it
  return {pid, pipe_fds[0], in_fds[1]};
}

}  // namespace skein
