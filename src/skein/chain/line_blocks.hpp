// A batch's lines for the run folder: output lines and error records formatted on the run's loop
// into one block per file, which the run folder's own thread then appends whole (run_output.hpp).
//
// Not thread-safe: filled on the loop, then handed over and read on the writer's thread.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "run_writer.hpp"
#include "skein/json.hpp"
#include "util/json_line.hpp"

namespace skein {

// {"row_id":…,"id":…,"output":…} and a newline, into `line` (cleared first).
std::string_view output_line(JsonLine& line, long long row_id, const std::string& id, const Json& value);
// {"row_id":…,"node":…,"line":…,"raw":…,"reason":…} (no "line" when it is 0) and a newline.
std::string_view error_line(JsonLine& line, const ErrorRecord& e);

class LineBlocks {
 public:
  // `line` (one line, its newline included) at the end of `node`'s block (kErrorsFile: errors.jsonl).
  void add(const std::string& node, std::string_view line);
  // The same, to the block numbered `block` (index() of its node): for a caller that adds to
  // several nodes in turn, which would defeat add()'s memory of the last block.
  void add(size_t block, std::string_view line);
  // The number of `node`'s block, made if it has none yet (it then comes last in write_to()).
  size_t index(const std::string& node);
  bool empty() const;  // no lines
  // Hands these lines over; this keeps its blocks, with no lines and the room they had (a run's
  // batches make much the same lines: the next grows its text without copying it on the way).
  LineBlocks take();
  // Appends each block to its file, in the order the blocks were made here.
  void write_to(RunWriter& writer) const;

 private:
  struct Block {
    std::string node, text;
    size_t lines = 0;
  };
  std::vector<Block> blocks_;
  size_t last_ = 0;  // the block the last line went to: the next one usually goes there too
};

}  // namespace skein
