// The run folder: run.json, graph.json, rolling <node>/NNN.jsonl files (at most max_lines_per_file
// lines each), flattened/NNN.jsonl, errors.jsonl. Lines are buffered; positions() flushes them and
// says how far every file got, which is what a checkpoint records and resume() cuts back to.
//
// Every call blocks on file work (a chain run makes them on its writer's thread, run_output.hpp).
// Not thread-safe: one thread at a time.
#pragma once
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "skein/json.hpp"

namespace skein {

// The run folder's files that are no node's (names node_checks reserves): flattened/NNN.jsonl and
// errors.jsonl (which never rolls over).
inline const std::string kFlattenedFile = "flattened";
inline const std::string kErrorsFile = "errors";

struct ErrorRecord {
  long long row_id = -1;
  std::string node;
  size_t line = 0;  // input line, when known
  std::string raw;
  std::string reason;
};

class RunWriter {
 public:
  // Creates the folder; throws Error.
  RunWriter(std::filesystem::path dir, size_t max_lines_per_file);
  // Creates (truncating) every artefact of a run with these nodes, so no file of an earlier run
  // into the same folder survives: a folder holding anything Skein does not write is refused
  // (check_run_folder in skein/chain.hpp says it before any work).
  void start(const std::vector<std::string>& nodes);
  // Reopens the files of an interrupted run as `positions()` recorded them: each cut back to its
  // recorded size, later files removed; what came after the checkpoint is gone.
  void resume(const std::vector<std::string>& nodes, const Json& positions);
  // `count` lines (each ending in a newline) appended to `node`'s files ("flattened", "errors"
  // included), rolling over to the next file after max_lines_per_file lines.
  void append(const std::string& node, std::string_view lines, size_t count);
  // Lines as another writer wrote them, however many: append() that counts them (a last line
  // without its newline counts too).
  void copy_lines(const std::string& node, std::string_view lines);
  void run_json(const Json& run) { json_file("run.json", run); }
  void json_file(const std::string& name, const Json& value);  // written atomically (tmp + rename)
  // Flushes every file and returns {node: {"file": index, "lines": n, "bytes": n}}.
  Json positions();
  const std::filesystem::path& dir() const { return dir_; }

 private:
  struct File {
    std::unique_ptr<char[]> buffer;  // out's: lines reach the file in blocks of kFileBuffer bytes
    std::ofstream out;
    int index = 0;
    size_t lines = 0;
    uintmax_t bytes = 0;
  };
  File& file(const std::string& node);
  void open(const std::string& node, File& f, std::ios::openmode mode);
  void write(const std::string& node, std::string_view line);
  void write_lines(const std::string& node, std::string_view lines);  // one by one, rolling over
  std::filesystem::path path_of(const std::string& node, int index) const;

  std::filesystem::path dir_;
  size_t max_lines_;
  std::map<std::string, File> files_;
};

}  // namespace skein
