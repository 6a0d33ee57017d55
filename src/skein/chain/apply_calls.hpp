// The outputs of Apply nodes: built-ins (filter, map, explode, exec) and registered functions.
// Owns the run's exec workers (one process per exec node, started on first use).
//
// Threads: filter, map and explode (Skein's own expressions) run on the run's loop; a registered
// native function runs on the blocking executor (one hop per batch); an exec command is fed and
// read asynchronously on the loop, so a waiting command holds no thread and a cancel reaches it.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exec_worker.hpp"
#include "skein/chain.hpp"

namespace skein {

// filter and map keep one record per record; explode, exec and native functions may multiply them.
bool apply_fans_out(const Apply& a);
// filter, map and explode: Skein's own expressions, evaluated on the run's loop.
bool is_built_in(const Apply& a);
// A built-in's outputs for one history (filter: [true] to keep, [] to drop). Throws what the
// expression throws, or Error when explode's field is not a list. Each kind's own:
std::vector<Json> built_in_outputs(const Apply& a, const Json& history);
bool kept_by(const Apply& filter, const Json& history);
Json mapped(const Apply& map, const Json& history);
Json::array_t exploded(const Apply& explode, const Json& history);
// The reason of the error record of a record that `a` failed on (`why`: its expression's,
// function's or command's error).
std::string apply_failure(const Apply& a, std::string_view why);

// One record's outputs (filter: [true] to keep, [] to drop), or why there are none.
struct ApplyOutcome {
  std::vector<Json> outputs;
  std::string error;  // empty: fine
};

class ApplyCalls {
 public:
  // Exec commands run in the chain file's folder; their stderr goes to <run_dir>/<node>/stderr.log.
  // Native functions run on `blocking`; unset: on two threads of its own, made on first use.
  ApplyCalls(const Chain& chain, std::filesystem::path run_dir, boost::asio::any_io_executor blocking)
      : chain_(chain), run_dir_(std::move(run_dir)), blocking_(std::move(blocking)) {}

  // The node's outcome for each history, in order. A failing expression, function or command is
  // that record's error; a cancellation is rethrown.
  boost::asio::awaitable<std::vector<ApplyOutcome>> outputs(const Apply& a, const std::string& path,
                                                            std::vector<const Json*> histories);
  // Ends the exec commands (stdin closed, then their groups stopped).
  boost::asio::awaitable<void> close();
  // Kills what is left of them at once (never blocks). Call before the loop's io_context goes.
  void drop() { workers_.clear(); }

 private:
  boost::asio::awaitable<ExecWorker*> exec_worker(const Apply& a, const std::string& path);
  boost::asio::any_io_executor blocking();
  const Chain& chain_;
  std::filesystem::path run_dir_;
  boost::asio::any_io_executor blocking_;
  std::unique_ptr<boost::asio::thread_pool> own_pool_;
  std::map<std::string, std::unique_ptr<ExecWorker>> workers_;
};

}  // namespace skein
