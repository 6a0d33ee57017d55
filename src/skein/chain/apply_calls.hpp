// The outputs of Apply nodes: built-ins (filter, map, explode, exec) and registered functions.
// Owns the run's exec workers (one process per exec node, started on first use).
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "exec_worker.hpp"
#include "skein/chain.hpp"

namespace skein {

bool is_builtin_apply(const std::string& fn);
// filter and map keep one record per record; explode, exec and native functions may multiply them.
bool apply_fans_out(const Apply& a);

class ApplyCalls {
 public:
  // Exec commands run in the chain file's folder; their stderr goes to <run_dir>/<node>/stderr.log.
  ApplyCalls(const Chain& chain, std::filesystem::path run_dir) : chain_(chain), run_dir_(std::move(run_dir)) {}
  // The node's outputs for one history (filter: [true] to keep, [] to drop). Throws on a failing
  // expression, function or command.
  std::vector<Json> outputs(const Apply& a, const std::string& path, const Json& history);

 private:
  ExecWorker& exec_worker(const Apply& a, const std::string& path);
  const Chain& chain_;
  std::filesystem::path run_dir_;
  std::map<std::string, std::unique_ptr<ExecWorker>> workers_;
};

}  // namespace skein
