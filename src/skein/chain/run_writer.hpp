// The run folder: run.json, graph.json, <node>/000.jsonl, flattened/000.jsonl, errors.jsonl. Lines are appended as
// records finish and flushed once per batch.
#pragma once
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "skein/json.hpp"

namespace skein {

struct ErrorRecord {
  long long row_id = -1;
  std::string node;
  size_t line = 0;  // input line, when known
  std::string raw;
  std::string reason;
};

class RunWriter {
 public:
  explicit RunWriter(std::filesystem::path dir);  // creates the folder; throws Error
  // Creates (truncating) every artefact of a run with these nodes, so no file of an earlier run
  // into the same folder survives: a node folder Skein did not write is refused.
  void start(const std::vector<std::string>& nodes);
  void output(const std::string& node, long long row_id, const std::string& id, const Json& value);
  void error(const ErrorRecord& e);
  void run_json(const Json& run) { json_file("run.json", run); }
  void json_file(const std::string& name, const Json& value);  // written atomically (tmp + rename)
  void line(const std::string& node, const Json& value);       // a line of <node>/000.jsonl
  void flush();
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::ofstream& file(const std::string& node);
  std::filesystem::path dir_;
  std::map<std::string, std::unique_ptr<std::ofstream>> files_;
};

}  // namespace skein
