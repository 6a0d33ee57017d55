// Input records, one at a time: JSONL (streamed, so memory does not grow with the file) or a JSON
// array of objects (the file starts with `[`). A line or element that is not a JSON object is
// returned with the reason, never dropped.
#pragma once
#include <fstream>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/json.hpp"

namespace skein {

struct InputLine {
  size_t line = 0;             // 1-based line number in the input (element number in an array)
  std::optional<Json> record;  // the object, when the line is one
  std::string raw;             // the line's text
  std::string error;           // why the line is not a record ("line 3: not valid JSON: …")
};

// One line of JSONL input, number `line`: the record, or why it is not one.
InputLine parse_input_line(std::string text, size_t line);

class InputReader {
 public:
  // "-" reads stdin. Throws ConfigError when the file cannot be read, or for a JSON array that does
  // not parse (with the line of the fault). JSONL lines are numbered from `first_line` (a piece of a
  // larger input; an array's elements always from 1).
  explicit InputReader(const std::string& path, size_t first_line = 1);
  // The next non-blank line, or nothing at the end.
  std::optional<InputLine> next();
  // How far reading got: lines (elements) consumed. skip_to(n) continues after the n-th.
  size_t position() const { return array_ ? next_element_ : line_; }
  void skip_to(size_t position);
  // How many records the input holds, for progress, without reading it twice: exact for an array
  // and once JSONL was read to its end; before that, estimated from the bytes read so far (records
  // seen × file size ÷ bytes read). Nothing for stdin before its end, or before the first record.
  struct Total {
    size_t records = 0;
    bool estimated = false;
  };
  std::optional<Total> total() const;
  // The blank lines before the first record of JSONL (0 for an array, whose position() counts
  // elements), which position() counts (before this version of skein it did not: a run's
  // checkpoint from then is shifted by them).
  size_t leading_blank_lines() const { return leading_blank_lines_; }

 private:
  std::optional<InputLine> next_element();
  bool read_line(std::string& text);  // counts what it consumed
  std::string path_;
  std::unique_ptr<std::ifstream> file_;
  std::istream* in_;
  size_t line_ = 0;
  std::optional<std::vector<Json>> array_;
  size_t next_element_ = 0;
  std::optional<uintmax_t> size_;  // the file's size in bytes (not for stdin)
  uintmax_t bytes_ = 0;            // bytes consumed, line ends included
  size_t seen_ = 0;                // lines that are not blank, read or skipped
  bool at_end_ = false;
  size_t leading_blank_lines_ = 0;
};

}  // namespace skein
