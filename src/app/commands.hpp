// The skein subcommands. Each returns the process exit code: 0 success, 1 a run that failed or
// produced error records, 2 bad configuration or input.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <memory>

#include "skein/broker.hpp"
#include "skein/chain.hpp"

namespace CLI {
class App;
}

namespace skein::app {

// --max-loaded, --memory-budget, --max-processes on `app` (run, shell, serve), into `limits`.
void add_broker_flags(CLI::App& app, BrokerLimits& limits);

// Where a host's run store is and how much it keeps (RegistryOptions::retention, max_store_bytes).
struct StoreLimits {
  std::string url;           // --store postgresql://…; empty: runs.sqlite in the state directory
  size_t retention = 10000;  // runs
  double max_store_mb = 0;   // 0: no bound
};
void add_store_flags(CLI::App& app, StoreLimits& limits);
// The broker of a command or host: `limits` (the files' `broker:`) with the command line's over
// them; sets the process-wide max_processes when either gives it.
std::unique_ptr<Broker> make_broker(BrokerLimits limits, const BrokerLimits& command_line);
BrokerOptions make_broker_options(BrokerLimits limits, const BrokerLimits& command_line);

struct RunArgs {
  std::string file, input, output;
  std::optional<int> batch_size;
  size_t max_lines_per_file = 100000;
  bool resume = false, strict = false, no_cache = false, quiet = false, json_logs = false;
  BrokerLimits limits;  // from the command line: over the file's `broker:`
  // Scale-out (SPEC §9): the run goes into this PostgreSQL database, in shards, and workers share it.
  std::string cluster;  // postgresql://…; empty: a local run
  int shard_size = 1000;
  bool detach = false;  // print the run id and return; `skein collect` writes the folder later
  int lease_ms = 10000;
  std::vector<std::string> given;  // the options on the command line ("--batch-size"), for refusals
};

int run_command(const RunArgs& args);
// `skein run CHAIN --cluster URL`: submits, works on the run, writes the folder when all is done.
int cluster_run_command(const RunArgs& args);

struct WorkerArgs {
  std::string url, engines_file, name;
  int lease_ms = 10000;
  bool quiet = false;
  BrokerLimits limits;
};
// `skein worker URL`: works on any cluster run's shards until SIGINT / SIGTERM.
int worker_command(const WorkerArgs& args);
// `skein collect RUN --cluster URL -o DIR`, `skein runs --cluster URL`, `skein cancel RUN --cluster URL`.
int collect_command(const std::string& url, const std::string& run, const std::string& output);
int runs_command(const std::string& url);
int cancel_command(const std::string& url, const std::string& run);

// Says (as a note) that engine `local` runs the random-weight fixture model, when a step uses it.
void note_fixture_model(const Chain& chain, class RunView& view);
// `skein run GRAPH.yaml --input '{…}'` (one run, its trace printed) or `-i runs.jsonl` (a run per line).
int graph_run_command(const RunArgs& args);

// `skein inspect FILE`: validates a chain and prints its tree (or a Mermaid flowchart).
int inspect_command(const std::string& file, bool mermaid);
// `skein inspect GRAPH.yaml`: the graph checks, its nodes and sources (or a Mermaid flowchart).
int inspect_graph(const std::string& file, bool mermaid);

// Lists configured engines (built-in `local`, those of FILE) and the managed servers running.
int engines_command(const std::string& file);
// Starts each engine (all of FILE's when none named), reports its load time, then stops it.
int warmup_command(const std::string& file, const std::vector<std::string>& names);
// Stops managed servers Skein started, also ones a crashed Skein left (from their pid files).
int kill_command(const std::string& engine, bool all);

struct ServeArgs {
  std::vector<std::string> files;
  std::string address = "127.0.0.1", token, state_dir;
  unsigned short port = 8686;
  std::vector<std::string> allow_hosts, allow_origins;
  double header_timeout = 10;  // seconds
  BrokerLimits limits;
  StoreLimits store;
};
// `skein serve`: the HTTP JSON API and the dashboard until SIGINT / SIGTERM.
int serve_command(const ServeArgs& args);

struct ShellArgs {
  std::vector<std::string> files;
  std::string state_dir;
  BrokerLimits limits;
  StoreLimits store;
};
// `skein shell`: the interactive host.
int shell_command(const ShellArgs& args);

}  // namespace skein::app
