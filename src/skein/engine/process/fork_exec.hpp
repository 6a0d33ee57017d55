// Launching a program into a process group of its own: PATH lookup, environment, pipes or a log
// file, fork, and the child's side before exec (own group, PR_SET_PDEATHSIG, announced to the
// watchdog, a clean signal mask, nothing of Skein's open but its 0, 1, 2). Only async-signal-safe
// calls run between fork and exec. Subprocess owns what this returns.
#pragma once
#include <sys/types.h>

#include "subprocess.hpp"

namespace skein {

struct Launched {
  pid_t pid = -1;
  int stdout_fd = -1;  // the read end, with stdout_pipe
  int stdin_fd = -1;   // the write end, with stdin_pipe
};

// Forks on the calling thread (PR_SET_PDEATHSIG is tied to it: call it from the spawner thread).
// Throws skein::Error when the program cannot be found or started.
Launched fork_exec(const SpawnOptions& options);

}  // namespace skein
