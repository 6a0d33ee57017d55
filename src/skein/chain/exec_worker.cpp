#include "exec_worker.hpp"

#include <signal.h>

#include <mutex>

#include "skein/error.hpp"

namespace skein {

ExecWorker::ExecWorker(const std::vector<std::string>& command, const std::string& cwd, const std::string& log_file)
    : log_(log_file) {
  // A command that exits early must give an error, not kill Skein with SIGPIPE.
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
  SpawnOptions o;
  o.argv = command;
  o.cwd = cwd;
  o.log_file = log_file;
  o.stdout_pipe = o.stdin_pipe = true;
  process_ = Subprocess::spawn(o);
  to_ = ::fdopen(process_.release_stdin(), "w");
  from_ = ::fdopen(process_.release_stdout(), "r");
  if (!to_ || !from_) throw Error("cannot open pipes to '" + command[0] + "'");
}

ExecWorker::~ExecWorker() {
  if (to_) std::fclose(to_);
  if (from_) std::fclose(from_);
  process_.stop(std::chrono::seconds(2));
}

std::vector<Json> ExecWorker::call(const Json& history) {
  const std::string line = history.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  char* reply = nullptr;
  size_t capacity = 0;
  const bool sent = std::fwrite(line.data(), 1, line.size(), to_) == line.size() && std::fflush(to_) == 0;
  const ssize_t n = sent ? ::getline(&reply, &capacity, from_) : -1;
  const std::string text = n > 0 ? std::string(reply, size_t(n)) : "";
  std::free(reply);
  if (n <= 0)
    throw Error("the exec command gave no reply (exited?); last lines of " + log_ + ":\n" + tail_lines(log_, 10));
  Json records;
  try {
    records = Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw Error("the exec command's reply is not JSON: " + text.substr(0, 200));
  }
  if (!records.is_array())
    throw Error("the exec command must answer a JSON array of records, got " + text.substr(0, 200));
  return std::vector<Json>(records.begin(), records.end());
}

}  // namespace skein
