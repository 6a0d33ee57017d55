// The skein subcommands. Each returns the process exit code: 0 success, 1 a run that failed or
// produced error records, 2 bad configuration or input.
#pragma once
#include <optional>
#include <string>

namespace skein::app {

struct RunArgs {
  std::string file, input, output;
  std::optional<int> batch_size;
  bool quiet = false;
};

int run_command(const RunArgs& args);

}  // namespace skein::app
