// The broker limits of a command or host: the files' `broker:` mappings, then the command line's.
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "skein/executors.hpp"

namespace skein::app {

void add_store_flags(CLI::App& app, StoreLimits& limits) {
  app.add_option("--store", limits.url,
                 "A PostgreSQL database (postgresql://…) to keep the runs in, shared by the hosts of many machines "
                 "(default: runs.sqlite in the state directory)")
      ->check([](const std::string& url) -> std::string {
        return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0
                   ? ""
                   : "expected a postgresql:// URL (the SQLite store is the state directory's: see --state-dir)";
      });
  app.add_option("--retention", limits.retention, "Finished runs the store keeps (the oldest go first)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-store-mb", limits.max_store_mb,
                 "Bound on the store's size in MiB: the oldest finished runs go first (default: none)")
      ->check(CLI::PositiveNumber);
}

void add_broker_flags(CLI::App& app, BrokerLimits& limits) {
  app.add_option_function<int>(
         "--max-loaded", [&limits](int n) { limits.max_loaded = n; },
         "Engines holding local resources (llama, llama-server, vllm) loaded at once (default 3)")
      ->check(CLI::PositiveNumber);
  app.add_option_function<std::string>(
      "--memory-budget",
      [&limits](const std::string& text) {
        try {
          limits.memory_budget = skein::parse_bytes(text);
        } catch (const skein::Error& e) {
          throw CLI::ValidationError("--memory-budget", e.what());
        }
      },
      "Memory the loaded engines may take, e.g. 8GiB (default: no budget)");
  app.add_option_function<int>(
         "--max-processes", [&limits](int n) { limits.max_processes = n; },
         "Child processes of exec deps and Apply nodes at once (default 64)")
      ->check(CLI::PositiveNumber);
}

BrokerOptions make_broker_options(BrokerLimits limits, const BrokerLimits& command_line) {
  limits.merge(command_line);
  if (limits.max_processes) set_max_processes(*limits.max_processes);
  return broker_options(limits);
}

std::unique_ptr<Broker> make_broker(BrokerLimits limits, const BrokerLimits& command_line) {
  return std::make_unique<Broker>(make_broker_options(std::move(limits), command_line));
}

}  // namespace skein::app
