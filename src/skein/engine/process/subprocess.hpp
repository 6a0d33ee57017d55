// Child processes that cannot outlive Skein: the one owner of process groups in Skein (spawn,
// guarded group kill, stop with a grace period, wait). Every child is the leader of its own process
// group (so a stop reaches everything it started), gets SIGKILL when Skein dies (PR_SET_PDEATHSIG,
// armed from a spawner thread that lives as long as the process) and is announced to the watchdog
// (watchdog.hpp), which kills its whole group, grandchildren included, if Skein is killed. It reads
// /dev/null or a pipe and writes to a log file or a pipe.
//
// What blocks: `spawn`, `stop`, `kill` and `poll`-free waits block the calling thread (engine
// threads, the broker's lifecycle executor). On a loop use `async_spawn`, `async_wait` and
// `async_stop`, which wait on the child's pidfd without a thread. The destructor never blocks: a
// child still running is killed with its group and reaped by a reaper thread.
#pragma once
#include <signal.h>
#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace skein {

struct SpawnOptions {
  std::vector<std::string> argv;           // argv[0] is looked up in PATH
  std::map<std::string, std::string> env;  // added to (or replacing in) Skein's environment
  std::string cwd;                         // empty: Skein's
  std::string log_file;                    // stdout+stderr appended here; empty: see stdout_pipe
  bool stdout_pipe = false;                // stdout to a pipe (read via stdout_fd()); stderr to log/null
  bool stdin_pipe = false;                 // stdin from a pipe (write via release_stdin()); else /dev/null
  std::string stdin_file;                  // stdin from this file (not with stdin_pipe)
  // stdout to this file (truncated; not with stdout_pipe), which the child holds an exclusive
  // flock on for as long as it (or anything it started with that stdout) runs.
  std::string stdout_file;
  // No PR_SET_PDEATHSIG and no watchdog: the child finishes its work if Skein is killed (a durable
  // graph run's `exec` dep, adopted by the host that resumes the run). A stop or cancel still
  // kills its group.
  bool outlive_skein = false;
};

class Subprocess {
 public:
  // Throws skein::Error when the program cannot be found or started. Blocks while the spawner
  // thread forks (about a millisecond).
  static Subprocess spawn(const SpawnOptions& options);
  // The same without blocking: the fork runs on the spawner thread, the coroutine resumes on its
  // executor.
  static boost::asio::awaitable<Subprocess> async_spawn(SpawnOptions options);

  Subprocess() = default;
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  ~Subprocess();  // stops the group if still running

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_; }  // readable once the child has exited
  int stdout_fd() const { return stdout_fd_; }
  int release_stdout();  // the caller now owns the fd
  int release_stdin();   // the caller now owns the fd (-1 without stdin_pipe)

  // The exit status once the child has exited (reaped here); nothing while it runs.
  std::optional<int> poll();
  // SIGTERM to the whole group, SIGKILL to it after `grace`; reaps the child. Idempotent. Blocks.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // SIGKILL to the whole group at once (cancellation); reaps the child. Blocks briefly.
  void kill();
  // `sig` to the whole group, now; never blocks.
  void signal(int sig);

  // The exit status, once the child has exited; waits on its pidfd without blocking the loop.
  boost::asio::awaitable<int> async_wait();
  // SIGTERM to the group, SIGKILL after `grace`, then the exit (reaped) and SIGKILL to what is left
  // of the group. Never blocks the loop; safe to cancel (the group is then killed at once).
  boost::asio::awaitable<void> async_stop(std::chrono::milliseconds grace);
  // SIGKILL to the group now; completes once the child is reaped and no process of the group is
  // left (looked up every millisecond, for at most 2 s). Never blocks the loop.
  boost::asio::awaitable<void> async_kill();

 private:
  static Subprocess spawn_here(const SpawnOptions& options);  // the fork on the calling thread
  bool wait_exit(std::chrono::milliseconds timeout);
  void abandon();
  void finish();  // reaped: the rest of the group killed, fds closed, the watchdog told
  void close_fds();
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int stdout_fd_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> status_;
};

// The rest of a child's pipe, up to end-of-file, read without blocking the loop.
boost::asio::awaitable<std::string> read_to_end(boost::asio::posix::stream_descriptor& pipe);
// Completes after `d`: a timer on the coroutine's executor (for `||` with a child's wait).
boost::asio::awaitable<void> async_sleep(std::chrono::milliseconds d);

// `sig` to every process of group `pgid`. The only group kill in Skein: it refuses pgid <= 1 (kill(-1)
// would reach every process we may signal). Never blocks.
void kill_group(pid_t pgid, int sig = SIGKILL);

// Whether any live (not zombie) process of group `pgid` exists, from the process listing.
bool process_group_alive(pid_t pgid);

// The last `n` lines of a text file (for errors about a server that exited).
std::string tail_lines(const std::string& path, int n);

}  // namespace skein
