// Input records from JSONL, one at a time (memory does not grow with the file). A line that is not
// a JSON object is returned with the reason, never dropped.
#pragma once
#include <fstream>
#include <istream>
#include <memory>
#include <optional>
#include <string>

#include "skein/json.hpp"

namespace skein {

struct InputLine {
  size_t line = 0;             // 1-based line number in the input
  std::optional<Json> record;  // the object, when the line is one
  std::string raw;             // the line's text
  std::string error;           // why the line is not a record
};

class InputReader {
 public:
  explicit InputReader(const std::string& path);  // "-" reads stdin; throws ConfigError
  // The next non-blank line, or nothing at the end.
  std::optional<InputLine> next();

 private:
  std::unique_ptr<std::ifstream> file_;
  std::istream* in_;
  size_t line_ = 0;
};

}  // namespace skein
