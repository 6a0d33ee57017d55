#include "subprocess.hpp"

#include <poll.h>
#include <signal.h>
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

#include "fork_exec.hpp"
#include "skein/cross_thread_completion.hpp"
#include "skein/error.hpp"
#include "watchdog.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace skein {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

// A thread of its own that runs posted tasks in order, for the whole life of the process.
class TaskThread {
 public:
  TaskThread() {
    std::thread([this] { loop(); }).detach();
  }
  void post(std::function<void()> task) {
    std::lock_guard l(mu_);
    tasks_.push_back(std::move(task));
    cv_.notify_one();
  }
  // Runs `f` there and waits for its result (blocks the caller).
  template <typename F>
  auto run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    post([&task] { task(); });
    return result.get();
  }

 private:
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

// PR_SET_PDEATHSIG fires when the *thread* that forked exits, so every fork happens on this one
// thread, which lives until the process ends. Never destroyed: its thread must outlive every child.
TaskThread& spawner() {
  static TaskThread* t = new TaskThread();
  return *t;
}

// Reaps children that were killed without waiting for them (a Subprocess destroyed on a loop).
void reap_later(pid_t pid) {
  static TaskThread* reaper = new TaskThread();  // never destroyed: its thread uses it
  reaper->post([pid] {
    ::waitpid(pid, nullptr, 0);
    kill_group(pid, SIGKILL);  // what the leader left behind
    watchdog_forget(pid);
  });
}

}  // namespace

// The whole spawn, with the fork on the calling thread (the spawner thread).
Subprocess Subprocess::spawn_here(const SpawnOptions& o) {
  const Launched child = fork_exec(o);
  Subprocess p;
  p.pid_ = child.pid;
  p.pidfd_ = int(::syscall(SYS_pidfd_open, child.pid, 0));
  p.stdout_fd_ = child.stdout_fd;
  p.stdin_fd_ = child.stdin_fd;
  return p;
}

Subprocess Subprocess::spawn(const SpawnOptions& o) {
  return spawner().run([&] { return spawn_here(o); });
}

asio::awaitable<Subprocess> Subprocess::async_spawn(SpawnOptions o) {
  auto initiate = [o = std::move(o)](auto handler) mutable {
    spawner().post([o = std::move(o), done = detail::cross_thread_completion(std::move(handler))]() mutable {
      std::exception_ptr error;
      Subprocess p;
      try {
        p = spawn_here(o);
      } catch (...) {
        error = std::current_exception();
      }
      done(std::move(error), std::move(p));
    });
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, Subprocess)>(
      std::move(initiate), asio::use_awaitable);
}

Subprocess::Subprocess(Subprocess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      pidfd_(std::exchange(o.pidfd_, -1)),
      stdout_fd_(std::exchange(o.stdout_fd_, -1)),
      stdin_fd_(std::exchange(o.stdin_fd_, -1)),
      status_(o.status_) {}

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  if (this != &o) {
    abandon();
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::exchange(o.pidfd_, -1);
    stdout_fd_ = std::exchange(o.stdout_fd_, -1);
    stdin_fd_ = std::exchange(o.stdin_fd_, -1);
    status_ = o.status_;
  }
  return *this;
}

Subprocess::~Subprocess() { abandon(); }

// Never blocks: a child still running is killed with its group and reaped by the reaper thread.
void Subprocess::abandon() {
  if (pid_ <= 1) return;
  if (poll()) return finish();
  kill_group(pid_, SIGKILL);
  reap_later(pid_);
  pid_ = -1;  // the reaper's now
  close_fds();
}

int Subprocess::release_stdout() { return std::exchange(stdout_fd_, -1); }

int Subprocess::release_stdin() { return std::exchange(stdin_fd_, -1); }

std::optional<int> Subprocess::poll() {
  if (status_ || pid_ < 0) return status_;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) status_ = status;
  if (r < 0 && errno == ECHILD) status_ = 255 << 8;  // reaped elsewhere: gone, status unknown (255)
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

asio::awaitable<void> async_sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<std::string> read_to_end(asio::posix::stream_descriptor& pipe) {
  std::string text;
  boost::system::error_code ec;
  co_await asio::async_read(pipe, asio::dynamic_buffer(text), asio::redirect_error(asio::use_awaitable, ec));
  if (ec && ec != asio::error::eof) throw boost::system::system_error(ec);
  co_return text;
}

void kill_group(pid_t pgid, int sig) {
  if (pgid > 1) ::kill(-pgid, sig);
}

void Subprocess::signal(int sig) {
  if (pid_ > 1 && !status_) kill_group(pid_, sig);
}

void Subprocess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 1) return;
  if (!poll()) {
    kill_group(pid_, SIGTERM);
    if (!wait_exit(grace)) kill_group(pid_, SIGKILL);
    while (!wait_exit(std::chrono::milliseconds(1000))) kill_group(pid_, SIGKILL);
  }
  finish();
}

void Subprocess::kill() {
  if (pid_ <= 1) return;
  const pid_t group = pid_;
  kill_group(group, SIGKILL);
  while (!wait_exit(std::chrono::milliseconds(1000))) kill_group(group, SIGKILL);
  // The rest of the group dies as the kernel delivers the signal: wait for that (bounded), so that
  // when kill() returns no process of the group is left.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (process_group_alive(group) && std::chrono::steady_clock::now() < deadline) {
    kill_group(group, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  finish();
}

asio::awaitable<int> Subprocess::async_wait() {
  if (!poll() && pidfd_ >= 0) {
    asio::posix::stream_descriptor exit_fd(co_await asio::this_coro::executor, ::dup(pidfd_));
    co_await exit_fd.async_wait(asio::posix::stream_descriptor::wait_read, asio::use_awaitable);
  }
  while (!poll()) {  // no pidfd (old kernel): a short timer between looks
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
    co_await t.async_wait(asio::use_awaitable);
  }
  co_return *status_;
}

asio::awaitable<void> Subprocess::async_stop(std::chrono::milliseconds grace) {
  if (pid_ <= 1) co_return;
  try {
    if (!poll()) {
      kill_group(pid_, SIGTERM);
      auto exited = co_await (async_wait() || async_sleep(grace));
      if (exited.index() == 1) kill_group(pid_, SIGKILL), co_await async_wait();
    }
  } catch (...) {
    abandon();  // cancelled: the group goes at once
    throw;
  }
  finish();
}

asio::awaitable<void> Subprocess::async_kill() {
  if (pid_ <= 1) co_return;
  const pid_t group = pid_;
  kill_group(group, SIGKILL);
  co_await async_wait();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (process_group_alive(group) && std::chrono::steady_clock::now() < deadline) {
    kill_group(group, SIGKILL);
    co_await async_sleep(std::chrono::milliseconds(1));
  }
  finish();
}

void Subprocess::finish() {
  if (pid_ > 1) {
    kill_group(pid_, SIGKILL);  // anything the leader left behind in its group
    watchdog_forget(pid_);
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
