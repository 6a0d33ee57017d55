// Child processes that cannot outlive Skein: each is the leader of its own process group (so a
// stop reaches everything it started), gets SIGKILL when Skein dies (PR_SET_PDEATHSIG, armed from a
// spawner thread that lives as long as the process), reads /dev/null and writes to a log file or a
// pipe.
#pragma once
#include <sys/types.h>

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
};

class Subprocess {
 public:
  // Throws skein::Error when the program cannot be found or started.
  static Subprocess spawn(const SpawnOptions& options);

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
  // SIGTERM to the whole group, SIGKILL to it after `grace`; reaps the child. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // SIGKILL to the whole group at once (cancellation); reaps the child.
  void kill();

 private:
  bool wait_exit(std::chrono::milliseconds timeout);
  void close_fds();
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int stdout_fd_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> status_;
};

// Whether any live (not zombie) process of group `pgid` exists, from the process listing.
bool process_group_alive(pid_t pgid);

// The last `n` lines of a text file (for errors about a server that exited).
std::string tail_lines(const std::string& path, int n);

}  // namespace skein
