#include "input_reader.hpp"

#include <algorithm>
#include <iostream>
#include <iterator>

#include "skein/error.hpp"

namespace skein {
namespace {

// The first character that is not white space, without consuming it (EOF when none).
int first_char(std::istream& in) {
  while (in && std::isspace(in.peek())) in.get();
  return in.peek();
}

size_t line_of(const std::string& text, size_t byte) {
  return 1 + size_t(std::count(text.begin(), text.begin() + std::min(byte, text.size()), '\n'));
}

}  // namespace

InputLine parse_input_line(std::string text, size_t line) {
  InputLine out;
  out.line = line;
  out.raw = std::move(text);
  try {
    Json value = Json::parse(out.raw);
    if (value.is_object())
      out.record = std::move(value);
    else
      out.error = "line " + std::to_string(line) + ": a record must be a JSON object, got " + value.type_name();
  } catch (const Json::exception& e) {  // a parse error, or a number out of range (1e999)
    out.error = "line " + std::to_string(line) + ": not valid JSON: " + e.what();
  }
  return out;
}

InputReader::InputReader(const std::string& path, size_t first_line)
    : path_(path), in_(&std::cin), line_(first_line - 1) {
  if (path != "-") {
    file_ = std::make_unique<std::ifstream>(path);
    if (!*file_) throw ConfigError({path, 0}, "cannot read the input file");
    in_ = file_.get();
  }
  if (first_line != 1 || first_char(*in_) != '[') return;  // a piece of an input is JSONL
  const std::string text((std::istreambuf_iterator<char>(*in_)), std::istreambuf_iterator<char>());
  try {
    array_ = Json::parse(text).get<std::vector<Json>>();
  } catch (const Json::parse_error& e) {
    throw ConfigError({path, int(line_of(text, e.byte ? e.byte - 1 : 0))},
                      std::string("not a valid JSON array: ") + e.what());
  } catch (const Json::exception& e) {  // a number out of range (1e999)
    throw ConfigError({path, 0}, std::string("not a valid JSON array: ") + e.what());
  }
}

std::optional<InputLine> InputReader::next_element() {
  if (next_element_ >= array_->size()) return std::nullopt;
  Json& value = (*array_)[next_element_++];
  InputLine out;
  out.line = next_element_;
  out.raw = value.dump();
  if (value.is_object())
    out.record = std::move(value);
  else
    out.error = "element " + std::to_string(out.line) + ": a record must be a JSON object, got " + value.type_name();
  value = nullptr;  // hand each element over once
  return out;
}

std::optional<InputLine> InputReader::next() {
  if (array_) return next_element();
  std::string text;
  while (std::getline(*in_, text)) {
    ++line_;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    return parse_input_line(std::move(text), line_);
  }
  return std::nullopt;
}

void InputReader::skip_to(size_t position) {
  if (array_) {
    next_element_ = std::min(position, array_->size());
    return;
  }
  std::string text;
  while (line_ < position && std::getline(*in_, text)) ++line_;
  if (line_ < position) throw ConfigError({path_, int(line_)}, "the input is shorter than the run being resumed");
}

std::optional<size_t> count_input_records(const std::string& path) {
  if (path == "-") return std::nullopt;
  std::ifstream in(path);
  if (!in) return std::nullopt;
  if (first_char(in) == '[') return std::nullopt;
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.find_first_not_of(" \t\r") != std::string::npos;
  return n;
}

}  // namespace skein
