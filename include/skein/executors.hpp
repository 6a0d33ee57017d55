// Skein's thread model: which loops and threads exist, what runs on each, and the one rule.
//
//   thread / executor           owner                 runs
//   --------------------------  --------------------  ---------------------------------------------
//   registry loop (1 thread)    RunRegistry           every graph run's coroutine (routing, fills,
//                                                     gates, deps awaited), events, cancels, gate answers;
//                                                     polls 50 us before it sleeps (loop_spin). A run
//                                                     yields it at every node (with a GraphRunOptions::
//                                                     slice, once that has passed since it started or
//                                                     last did: work queued behind R runs whose nodes
//                                                     never wait then waits about R slices and the
//                                                     nodes under way). wait_until's conditions run on
//                                                     whichever thread changes the run (this loop,
//                                                     chain threads, answer()'s or terminate()'s caller)
//   chain loop (1 per run)      run_chain             the run's batches, steps, branches; file writes
//   server loop (1 thread)      skein serve           HTTP, SSE; calls the registry's thread-safe API
//   engine threads              each engine           llama: one decode thread; openai/ollama/cli:
//                                                     one io thread (HTTP requests, cli processes)
//   lifecycle executor (4)      Broker                engine starts (model loads, server spawns and
//                                                     health polls), engine stops, the idle timer,
//                                                     acquire deadlines
//   blocking pool               RunRegistry/run_chain user code: Apply functions, native deps,
//                                                     handlers, effects
//   store writer (1 thread)     RunStore              SQLite writes, in batches
//   spawner, reaper (1 each)    subprocess            fork+exec (PR_SET_PDEATHSIG needs a thread that
//                                                     lives as long as Skein); reaping killed children
//   watchdog (1 process)        subprocess            kills every child process group if Skein dies
//
// THE RULE: nothing blocks a loop. No condition-variable wait, sleep, blocking read, process wait,
// model load or health poll runs on the registry, chain or server loop. Engines are leased with
// Broker::async_acquire (starts and stops run on the lifecycle executor and complete by `post`);
// user code runs on the blocking pool; child processes (`exec` deps and Apply) are spawned, fed,
// read and awaited asynchronously, so a waiting child holds no thread. Every hop between these
// executors is a `post`. Leases are held for one use: one batch of a step, one model call.
#pragma once

namespace skein {

// Child processes of `exec` deps and `exec` Apply nodes running at once, process-wide (default 64).
// More wait, without a thread, for one to end. Thread-safe; takes effect for the next spawns.
void set_max_processes(int n);
int max_processes();

}  // namespace skein
