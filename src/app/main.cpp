// skein: the command line.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
  // A write to a pipe whose reader is gone (a cancelled `exec` dep, a closed `| head`) fails with
  // EPIPE where it is written; it never kills Skein. Programs Skein starts get the default back.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"Skein: typed LLM pipelines and agent graphs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", SKEIN_APP_VERSION);

  skein::app::RunArgs run;
  CLI::App* run_cmd = app.add_subcommand("run", "Run a chain over a dataset, or a graph once or once per line");
  run_cmd->add_option("file", run.file, "Chain or graph file (YAML or JSON)")->required()->check(CLI::ExistingFile);
  run_cmd
      ->add_option("-i,--input", run.input,
                   "Input records: JSONL or a JSON array ('-' for stdin); for a graph, '{...}' for one run or a JSONL "
                   "file of runs")
      ->required();
  run_cmd->add_option("-o,--output", run.output, "Output folder (default: out/<chain or graph name>)");
  run_cmd->add_option("--batch-size", run.batch_size, "Chains: records per batch (overrides the file)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--max-lines-per-file", run.max_lines_per_file, "Chains: lines per <node>/NNN.jsonl file")
      ->check(CLI::PositiveNumber);
  run_cmd->add_flag(
      "--resume", run.resume,
      "Continue the interrupted run in the output folder (a graph: the runs of -i runs.jsonl without a result)");
  run_cmd->add_flag("--strict", run.strict, "Chains: refuse the input if any record is malformed or of the wrong type");
  run_cmd->add_flag("--no-cache", run.no_cache, "Chains: neither read nor fill the response cache");
  run_cmd->add_flag("-q,--quiet", run.quiet, "Only errors and the output folder");
  run_cmd->add_flag("--json-logs", run.json_logs, "Progress, warnings and the summary as JSON lines on stderr");
  skein::app::add_broker_flags(*run_cmd, run.limits);
  run_cmd->add_option("--cluster", run.cluster,
                      "Chains: spread the run over `skein worker`s through this PostgreSQL database (postgresql://…)");
  run_cmd->add_option("--shard-size", run.shard_size, "With --cluster: records per shard (whole batches)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  run_cmd->add_flag("--detach", run.detach, "With --cluster: store the run, print its id and return");
  run_cmd->add_option("--lease-ms", run.lease_ms, "With --cluster: a shard's lease, renewed every third of it")
      ->capture_default_str()
      ->check(CLI::Range(300, 3600000));

  skein::app::WorkerArgs worker;
  CLI::App* worker_cmd = app.add_subcommand("worker", "Work on cluster runs' shards (PostgreSQL) until stopped");
  worker_cmd->add_option("url", worker.url, "The cluster's database (postgresql://…)")->required();
  worker_cmd->add_option("--engines", worker.engines_file, "Engines file: names here override the chains' engines")
      ->check(CLI::ExistingFile);
  worker_cmd->add_option("--name", worker.name, "This worker's name in the shards it holds (default host:pid)");
  worker_cmd->add_option("--lease-ms", worker.lease_ms, "A shard's lease, renewed every third of it")
      ->capture_default_str()
      ->check(CLI::Range(300, 3600000));
  worker_cmd->add_flag("-q,--quiet", worker.quiet, "Only errors");
  skein::app::add_broker_flags(*worker_cmd, worker.limits);

  std::string cluster_url, cluster_run, collect_output;
  CLI::App* collect_cmd = app.add_subcommand("collect", "Write a finished cluster run's folder");
  collect_cmd->add_option("run", cluster_run, "Run id")->required();
  collect_cmd->add_option("--cluster", cluster_url, "The cluster's database")->required();
  collect_cmd->add_option("-o,--output", collect_output, "Output folder (default: out/<chain name>)");
  CLI::App* runs_cmd = app.add_subcommand("runs", "List cluster runs with their shard progress");
  runs_cmd->add_option("--cluster", cluster_url, "The cluster's database")->required();
  CLI::App* cancel_cmd = app.add_subcommand("cancel", "Cancel a cluster run on every worker");
  cancel_cmd->add_option("run", cluster_run, "Run id")->required();
  cancel_cmd->add_option("--cluster", cluster_url, "The cluster's database")->required();

  std::string inspect_file;
  bool mermaid = false;
  CLI::App* inspect_cmd = app.add_subcommand("inspect", "Check a chain or graph file and print its tree");
  inspect_cmd->add_option("file", inspect_file, "Chain or graph file")->required()->check(CLI::ExistingFile);
  inspect_cmd->add_flag("--mermaid", mermaid, "Print a Mermaid flowchart instead");

  std::string engines_file;
  CLI::App* engines_cmd = app.add_subcommand("engines", "List engines and running managed servers");
  engines_cmd->add_option("file", engines_file, "Chain, graph or engines file whose engines to list")
      ->check(CLI::ExistingFile);

  std::string warmup_file;
  std::vector<std::string> warmup_names;
  CLI::App* warmup_cmd = app.add_subcommand("warmup", "Start engines to check them and time their start");
  warmup_cmd->add_option("file", warmup_file, "Chain, graph or engines file")->required()->check(CLI::ExistingFile);
  warmup_cmd->add_option("engines", warmup_names, "Engines to start (default: all of the file)");

  std::string kill_engine;
  bool kill_all = false;
  CLI::App* kill_cmd = app.add_subcommand("kill", "Stop managed servers Skein started (also after a crash)");
  kill_cmd->add_option("engine", kill_engine, "Engine whose server to stop");
  kill_cmd->add_flag("--all", kill_all, "Stop every recorded server");

  skein::app::ServeArgs serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "HTTP JSON API and web dashboard for runs of the files");
  serve_cmd->add_option("files", serve.files, "Graph and chain files to serve")->check(CLI::ExistingFile);
  serve_cmd->add_option("--port", serve.port, "Port (0: any free one)")->capture_default_str();
  serve_cmd->add_option("--address", serve.address, "Address to bind (not loopback: needs --token)")
      ->capture_default_str();
  serve_cmd->add_option("--token", serve.token, "Bearer token every request must carry (default: $SKEIN_TOKEN)");
  serve_cmd->add_option("--state-dir", serve.state_dir, "Where the run store lives (default: the state directory)");
  serve_cmd->add_option("--allow-host", serve.allow_hosts,
                        "Another name the Host header may carry (besides the address bound, localhost, 127.0.0.1 "
                        "and [::1]; repeatable)");
  serve_cmd->add_option("--allow-origin", serve.allow_origins,
                        "Another origin (e.g. https://ops.example.com) whose pages may call the API (repeatable)");
  serve_cmd
      ->add_option("--header-timeout", serve.header_timeout,
                   "Seconds a connection may take to send a request's header (idle ones are closed after it)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  skein::app::add_broker_flags(*serve_cmd, serve.limits);
  skein::app::add_store_flags(*serve_cmd, serve.store);

  skein::app::ShellArgs shell;
  CLI::App* shell_cmd = app.add_subcommand("shell", "Interactive host: run, watch, answer gates, cancel");
  shell_cmd->add_option("files", shell.files, "Graph and chain files to load")->check(CLI::ExistingFile);
  shell_cmd->add_option("--state-dir", shell.state_dir, "Where the run store lives (default: the state directory)");
  skein::app::add_broker_flags(*shell_cmd, shell.limits);
  skein::app::add_store_flags(*shell_cmd, shell.store);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (run_cmd->parsed()) {
    for (const CLI::Option* o : run_cmd->get_options())
      if (o->count() > 0) run.given.push_back(o->get_name());
    return skein::app::run_command(run);
  }
  if (worker_cmd->parsed()) return skein::app::worker_command(worker);
  if (collect_cmd->parsed()) return skein::app::collect_command(cluster_url, cluster_run, collect_output);
  if (runs_cmd->parsed()) return skein::app::runs_command(cluster_url);
  if (cancel_cmd->parsed()) return skein::app::cancel_command(cluster_url, cluster_run);
  if (inspect_cmd->parsed()) return skein::app::inspect_command(inspect_file, mermaid);
  if (engines_cmd->parsed()) return skein::app::engines_command(engines_file);
  if (warmup_cmd->parsed()) return skein::app::warmup_command(warmup_file, warmup_names);
  if (serve_cmd->parsed()) return skein::app::serve_command(serve);
  if (shell_cmd->parsed()) return skein::app::shell_command(shell);
  if (kill_cmd->parsed()) {
    if (kill_engine.empty() && !kill_all) {
      std::cerr << "skein kill: name an engine or pass --all\n";
      return 2;
    }
    return skein::app::kill_command(kill_engine, kill_all);
  }
  return 0;
}
