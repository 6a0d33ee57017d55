// Managed servers: a `llama-server` or `vllm serve` process that Skein starts for an engine and
// talks to through the `openai` backend.
//
// Start: spawned in its own process group (dies with Skein), output to a log file under the state
// directory, a pid file recorded for `skein kill`, then /health polled with back-off until
// `startup_timeout`; an early exit or a timeout is an EngineError quoting the last log lines.
// Stop: SIGTERM to the group, SIGKILL after a grace period, pid file removed.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "skein/engine.hpp"
#include "skein/engine_config.hpp"
#include "skein/managed_servers.hpp"

namespace skein {

// The command line and environment for `config` (backend llama-server or vllm) on `port`.
struct ServerCommand {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
};
ServerCommand server_command(const EngineConfig& config, int port);

std::unique_ptr<Engine> start_managed_server(const EngineConfig& config);

}  // namespace skein
