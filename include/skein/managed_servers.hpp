// The servers Skein started for engines (`llama-server`, `vllm serve`) and left running, as their
// pid files under the state directory record them: what `skein engines` lists and `skein kill`
// stops. Reads the state directory and signals processes; no state of its own.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace skein {

// A server Skein started, as recorded in its pid file.
struct ServerRecord {
  std::string engine, backend;
  int pid = 0, port = 0;
  std::filesystem::path pid_file;
};

// Every pid file of the state directory that parses (its process may have died since).
std::vector<ServerRecord> recorded_servers();

// Stops a recorded server (and its group) if it is still the process Skein started; removes the
// pid file. Returns true when a live server was stopped. Blocks up to 5 s for its exit.
bool stop_recorded_server(const ServerRecord& record);

}  // namespace skein
