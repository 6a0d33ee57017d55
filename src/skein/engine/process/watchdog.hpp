// The watchdog: one small process per Skein process that kills every process group Skein started
// when Skein itself dies, even by SIGKILL, grandchildren included (they share their group).
//
// PR_SET_PDEATHSIG reaches only a direct child; the watchdog closes that hole. It is forked once,
// on first use, into a process group of its own, keeps only the read end of a pipe, and records
// the groups announced on it (each child writes its own pid before exec, so no program runs
// unannounced; Skein withdraws a group once it has reaped it). When the pipe reaches end-of-file,
// Skein is gone: the watchdog sends SIGKILL to every group still recorded and exits.
//
// Thread-safe. Nothing here blocks beyond one short write to a pipe.
#pragma once
#include <sys/types.h>

namespace skein {

// The pipe's write end (O_CLOEXEC) a child announces itself on before exec: write(fd, &pid, 4).
// Starts the watchdog on first call; -1 if it could not be started (children then rely on
// PR_SET_PDEATHSIG alone).
int watchdog_fd();

// Withdraws group `pgid` (its processes are gone and the id may be reused).
void watchdog_forget(pid_t pgid);

}  // namespace skein
