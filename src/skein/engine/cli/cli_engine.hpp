// The `cli` backend: one subprocess per request, e.g. a coding-assistant CLI. The command's
// arguments may hold placeholders: {prompt} (system and user text), {system}, {user}, {schema}
// (the output type as JSON Schema, or "") and {model}. Stdin is /dev/null; stdout is the reply
// (optionally a field of a JSON reply, `extract`); stderr goes to a log. Each run is its own
// process group, killed whole on cancel or timeout.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "skein/engine.hpp"

namespace skein {

struct CliOptions {
  std::vector<std::string> command;
  std::string model;
  std::string extract;  // a top-level key of a JSON reply holding the text; empty: all of stdout
  int parallel = 4;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::string log_file;  // stderr of every run; empty: the state directory's logs/cli-<name>.log
};

// The command line of one request.
std::vector<std::string> cli_arguments(const CliOptions& options, const GenerateRequest& request);

std::unique_ptr<Engine> make_cli_engine(const std::string& name, const CliOptions& options);

}  // namespace skein
