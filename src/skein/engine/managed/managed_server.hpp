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

namespace skein {

// The command line and environment for `config` (backend llama-server or vllm) on `port`.
struct ServerCommand {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
};
ServerCommand server_command(const EngineConfig& config, int port);

std::unique_ptr<Engine> start_managed_server(const EngineConfig& config);

// A server Skein started, as recorded in its pid file.
struct ServerRecord {
  std::string engine, backend;
  int pid = 0, port = 0;
  std::filesystem::path pid_file;
};

std::vector<ServerRecord> recorded_servers();

// Stops a recorded server (and its group) if it is still the process Skein started; removes the
// pid file. Returns true when a live server was stopped.
bool stop_recorded_server(const ServerRecord& record);

}  // namespace skein
