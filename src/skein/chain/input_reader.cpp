#include "input_reader.hpp"

#include <iostream>

#include "skein/error.hpp"

namespace skein {

InputReader::InputReader(const std::string& path) : in_(&std::cin) {
  if (path == "-") return;
  file_ = std::make_unique<std::ifstream>(path);
  if (!*file_) throw ConfigError({path, 0}, "cannot read the input file");
  in_ = file_.get();
}

std::optional<InputLine> InputReader::next() {
  std::string text;
  while (std::getline(*in_, text)) {
    ++line_;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    InputLine out;
    out.line = line_;
    out.raw = text;
    try {
      Json value = Json::parse(text);
      if (value.is_object())
        out.record = std::move(value);
      else
        out.error = "line " + std::to_string(line_) + ": a record must be a JSON object, got " + value.type_name();
    } catch (const Json::parse_error& e) {
      out.error = "line " + std::to_string(line_) + ": not valid JSON: " + e.what();
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace skein
