// The command of an `exec` Apply: started once per run in the chain file's folder, it reads one
// JSON history per line on stdin and answers each with one line holding a JSON array of 0..n
// records. Any language can implement an Apply this way. Its stderr goes to a log file.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "engine/process/subprocess.hpp"
#include "skein/json.hpp"

namespace skein {

class ExecWorker {
 public:
  // Throws Error when the command cannot start.
  ExecWorker(const std::vector<std::string>& command, const std::string& cwd, const std::string& log_file);
  ~ExecWorker();  // closes stdin so the command can finish, then stops its process group

  // The records for one history. Throws Error when the reply is not a JSON array or the command
  // has exited (quoting its log).
  std::vector<Json> call(const Json& history);

 private:
  std::string log_;
  Subprocess process_;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
};

}  // namespace skein
