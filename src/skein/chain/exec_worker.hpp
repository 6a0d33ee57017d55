// The command of an `exec` Apply: started once per run in the chain file's folder, it reads one
// JSON history per line on stdin and answers each with one line holding a JSON array of 0..n
// records. Any language can implement an Apply this way. Its stderr goes to a log file.
//
// Everything is asynchronous on the chain's loop: the child's pipes are read and written without
// blocking, a waiting child holds no thread, and it holds one of the process-wide process slots
// (set_max_processes) while it works on a record (not between records: a run's workers can never
// starve each other of slots). A call that outlasts `timeout`, or is cancelled, kills the
// command's whole process group at once; the worker is then `dead` and a new one is needed.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/streambuf.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/process/process_slots.hpp"
#include "engine/process/subprocess.hpp"
#include "skein/json.hpp"

namespace skein {

class ExecWorker {
 public:
  // Starts the command. Throws Error when it cannot start.
  static boost::asio::awaitable<std::unique_ptr<ExecWorker>> start(std::vector<std::string> command, std::string cwd,
                                                                   std::string log_file,
                                                                   std::optional<std::chrono::milliseconds> timeout);
  ~ExecWorker();  // kills the group if close() was not awaited; never blocks

  // The records for one history. Throws Error when the reply is not a JSON array, the command has
  // exited (quoting its log) or timed out.
  boost::asio::awaitable<std::vector<Json>> call(const Json& history);
  // Closes stdin so the command can finish, then stops its group (2 s grace).
  boost::asio::awaitable<void> close();
  bool dead() const { return dead_; }

 private:
  ExecWorker() = default;
  void kill();
  std::string log_;
  std::optional<std::chrono::milliseconds> timeout_;
  Subprocess process_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> to_, from_;
  boost::asio::streambuf pending_;  // read past the last line
  bool dead_ = false;
};

}  // namespace skein
