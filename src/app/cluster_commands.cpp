// The scale-out commands (SPEC §9): `skein run --cluster`, `skein worker`, `collect`, `runs`,
// `cancel`. Each talks to PostgreSQL from its own threads (never a loop): the submitter's main
// thread watches progress while a worker thread works on the run.
#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "commands.hpp"
#include "run_view.hpp"
#include "skein/cluster.hpp"
#include "skein/engine_config.hpp"

namespace skein::app {
namespace {

using namespace std::chrono_literals;

std::string new_run_id(const std::string& chain) {
  std::random_device rd;
  const std::time_t t = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", std::gmtime(&t));
  return fmt::format("{}-{}-{:06x}", chain, stamp, rd() & 0xffffff);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Stores the run and its input; returns its id.
std::string submit(const RunArgs& args, const Chain& chain, const std::string& chain_text, ClusterQueue& queue) {
  const size_t batch = size_t(args.batch_size.value_or(chain.batch_size));
  std::ifstream file;
  if (args.input != "-") {
    file.open(args.input, std::ios::binary);
    if (!file) throw ConfigError({args.input, 0}, "cannot read the input file");
  }
  std::istream& in = args.input == "-" ? std::cin : file;
  ClusterRun run{new_run_id(chain.name), chain_text, chain.file_sha256, Json::object()};
  run.options = {{"file", std::filesystem::absolute(args.file).string()},
                 {"input", args.input},
                 {"batch_size", batch},
                 {"max_lines_per_file", args.max_lines_per_file},
                 {"cache", !args.no_cache}};
  queue.submit(run, chain, in, args.input, batch, size_t(args.shard_size), args.strict);
  return run.id;
}

// One line of a cluster run's progress: shards and records across all workers.
std::string progress_line(const ClusterProgress& p) {
  return fmt::format("{}: {}/{} shards done ({} running), {}/{} lines{}", p.id, p.done, p.shards, p.running,
                     p.lines_done, p.lines, p.retries ? fmt::format(", {} retried", p.retries) : "");
}

// The run's progress until it leaves `running` (nothing when `go_on` says to stop first), redrawn
// on a terminal; survives a database restart (reconnects with back-off on an unavailable Error).
std::optional<ClusterProgress> watch(const std::string& url, const std::string& id, bool quiet,
                                     const std::function<bool()>& go_on) {
  const bool tty = isatty(2);
  std::optional<ClusterQueue> queue;
  std::string last;
  auto backoff = 100ms;
  while (go_on()) {
    try {
      if (!queue) queue.emplace(url);
      const ClusterProgress p = queue->progress(id);
      backoff = 100ms;
      const std::string line = progress_line(p);
      if (!quiet && line != last) std::cerr << (tty ? "\r\033[K" : "") << line << (tty ? "" : "\n") << std::flush;
      last = line;
      if (p.state != ChainStatus::running) {
        if (!quiet && tty) std::cerr << "\n";
        return p;
      }
      std::this_thread::sleep_for(250ms);  // the command's own thread: nothing else runs on it
    } catch (const Error& e) {
      if (e.code() != ErrorCode::unavailable) throw;
      if (!quiet) std::cerr << (tty ? "\n" : "") << "database: " << e.what() << "; reconnecting\n";
      queue.reset();
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }
  return std::nullopt;
}

// The run folder: -o, else out/<chain name> as for a local run.
std::string output_folder(const std::string& output, const Chain& chain) {
  return output.empty() ? "out/" + chain.name : output;
}

int collect_into(ClusterQueue& queue, const std::string& id, const std::string& output, RunView& view,
                 double wall_seconds) {
  const std::optional<ClusterRun> run = queue.run(id);
  if (!run) throw NotFoundError("no cluster run " + id);
  const Chain chain = parse_chain(run->chain_text, run->options.value("file", id + ".yaml"));
  RunSummary s = queue.write_run_folder(*run, chain, output_folder(output, chain));
  s.wall_seconds = wall_seconds;
  view.summary(s);
  if (const int retries = queue.progress(id).retries)
    view.note(
        fmt::format("{} shard attempt{} retried: a worker stopped or lost its lease, and another took the shard over",
                    retries, retries == 1 ? " was" : "s were"));
  std::cout << "outputs: " << s.output_dir << "\n";
  return s.errors ? 1 : 0;
}

// SIGINT and SIGTERM, blocked in the calling thread and every thread it starts afterwards (call it
// before any thread exists), for a thread of their own to take with sigwait.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// A command's body: a ConfigError exits 2 and any other error 1, each said once (after `what`).
int reporting(RunView& view, const std::string& what, const std::function<int()>& body) {
  try {
    return body();
  } catch (const ConfigError& e) {
    view.error(e.what());
    return 2;
  } catch (const std::exception& e) {
    view.error(what + e.what());
    return 1;
  }
}

}  // namespace

int cluster_run_command(const RunArgs& args) {
  RunView view(choose_view(args.quiet, args.json_logs));
  const auto t0 = std::chrono::steady_clock::now();
  return reporting(view, "cluster run failed: ", [&] {
    if (args.resume) throw InvalidArgumentError("--resume is for local runs: a cluster run resumes by itself");
    const std::string text = read_text(args.file);  // read once: what is stored is what was cut for
    const Chain chain = parse_chain(text, args.file);
    // Written only once every shard is done: a folder it cannot be written to is said now.
    if (!args.detach) check_run_folder(output_folder(args.output, chain));
    ClusterQueue queue(args.cluster);
    const std::string id = submit(args, chain, text, queue);
    if (args.detach) {
      std::cout << id << "\n";
      return 0;
    }
    view.note("cluster run " + id + ": working on it here too; workers join with `skein worker " + args.cluster + "`");
    note_fixture_model(chain, view);
    ClusterWorkerOptions o;
    o.url = args.cluster;
    o.lease = std::chrono::milliseconds(args.lease_ms);
    o.only_run = id;
    o.broker = make_broker_options(chain.broker, args.limits);
    ClusterWorker worker(o);
    std::string worker_failed;
    std::atomic<bool> worker_gone{false};
    std::thread working([&] {
      try {
        worker.run();
      } catch (const std::exception& e) {
        worker_failed = e.what();
      }
      worker_gone = true;
    });
    struct Stop {  // however watching ends, the worker thread is stopped and joined
      ClusterWorker& w;
      std::thread& t;
      ~Stop() {
        w.stop();
        if (t.joinable()) t.join();
      }
    } stop{worker, working};
    const std::optional<ClusterProgress> p =
        watch(args.cluster, id, args.quiet, [&] { return !worker_gone || worker_failed.empty(); });
    if (!p) {  // this process's worker stopped (it never reached the database): others may go on
      working.join();
      view.error("this process stopped working on cluster run " + id + ": " + worker_failed +
                 "; the run stays in the database: `skein collect " + id + " --cluster …` writes it once done");
      return 1;
    }
    if (p->state == ChainStatus::cancelled) {
      view.error("cluster run " + id + " was cancelled");
      return 1;
    }
    if (p->state == ChainStatus::failed) {
      view.error("cluster run " + id + " failed: " + p->error);
      return 1;
    }
    ClusterQueue now(args.cluster);  // a connection of now: the database may have restarted since
    return collect_into(now, id, args.output, view,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  });
}

int worker_command(const WorkerArgs& args) {
  const sigset_t stop_signals = block_stop_signals();
  RunView view(choose_view(args.quiet, false));
  return reporting(view, "worker: ", [&] {
    BrokerLimits limits;
    ClusterWorkerOptions o;
    if (!args.engines_file.empty()) o.engines = load_engines_file(args.engines_file, &limits);
    o.url = args.url;
    o.name = args.name;
    o.lease = std::chrono::milliseconds(args.lease_ms);
    o.broker = make_broker_options(limits, args.limits);
    if (!args.quiet) o.on_event = [&](const std::string& e) { view.note(e); };  // from the worker's thread only
    ClusterWorker worker(o);
    // The first SIGINT/SIGTERM stops the worker (its shard left to the lease); a second quits at once.
    std::atomic<bool> ending{false};
    std::thread signals([&] {
      for (int n = 0;; ++n) {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        if (ending) return;
        if (n > 0) std::_Exit(128 + sig);
        std::cerr << "skein worker: stopping (again to quit at once)\n";
        worker.stop();
      }
    });
    struct Join {  // wakes the signal thread (the signal is blocked everywhere) and waits for it
      std::atomic<bool>& ending;
      std::thread& t;
      ~Join() {
        ending = true;
        pthread_kill(t.native_handle(), SIGTERM);
        t.join();
      }
    } join{ending, signals};
    worker.run();
    const ClusterWorkerStats s = worker.stats();
    view.note(fmt::format("worker stopped: {} shards committed, {} fenced, {} left, {} failed", s.committed, s.fenced,
                          s.abandoned, s.failed));
    return 0;
  });
}

int collect_command(const std::string& url, const std::string& run, const std::string& output) {
  RunView view(choose_view(false, false));
  try {
    ClusterQueue queue(url);
    return collect_into(queue, run, output, view, 0);
  } catch (const std::exception& e) {
    view.error(e.what());
    return 1;
  }
}

int runs_command(const std::string& url) {
  try {
    ClusterQueue queue(url);
    std::cout << fmt::format("{:<44} {:<10} {:>13} {:>21} {:>8}\n", "run", "state", "shards", "lines", "retries");
    for (const auto& p : queue.runs())
      std::cout << fmt::format("{:<44} {:<10} {:>13} {:>21} {:>8}\n", p.id, to_string(p.state),
                               fmt::format("{}/{}", p.done, p.shards), fmt::format("{}/{}", p.lines_done, p.lines),
                               p.retries);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "skein runs: " << e.what() << "\n";
    return 1;
  }
}

int cancel_command(const std::string& url, const std::string& run) {
  try {
    ClusterQueue queue(url);
    const ChainStatus state = queue.progress(run).state;  // throws NotFoundError for an unknown run
    if (state != ChainStatus::running || !queue.cancel(run)) {
      std::cerr << "skein cancel: " << run << " is "
                << to_string(state == ChainStatus::running ? ChainStatus::done : state) << ": nothing to cancel\n";
      return 1;
    }
    std::cout << "cancelled " << run << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "skein cancel: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace skein::app
