#include "input_reader.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <iterator>

#include "skein/error.hpp"
#include "util/parse_json.hpp"

namespace skein {
namespace {

// The first character that is not white space, without consuming it (EOF when none).
// Counts what it skips: bytes, and the line ends among them.
int first_char(std::istream& in, uintmax_t& bytes, size_t& lines) {
  for (; in && std::isspace(in.peek()); ++bytes) lines += in.get() == '\n';
  return in.peek();
}

bool blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

size_t line_of(const std::string& text, size_t byte) {
  return 1 + size_t(std::count(text.begin(), text.begin() + std::min(byte, text.size()), '\n'));
}

}  // namespace

InputLine parse_input_line(std::string text, size_t line) {
  InputLine out;
  out.line = line;
  out.raw = std::move(text);
  try {
    Json value = parse_json(out.raw);
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
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(path, ec);
    if (!ec) size_ = size;
  }
  if (first_line != 1) return;  // a piece of an input is JSONL
  size_t blank_lines = 0;
  if (first_char(*in_, bytes_, blank_lines) != '[') {
    leading_blank_lines_ = blank_lines;
    line_ += blank_lines;  // so the first record's line number counts them
    return;
  }
  const std::string text((std::istreambuf_iterator<char>(*in_)), std::istreambuf_iterator<char>());
  try {
    array_ = Json::parse(text).get<std::vector<Json>>();
  } catch (const Json::parse_error& e) {
    throw ConfigError({path, int(blank_lines + line_of(text, e.byte ? e.byte - 1 : 0))},
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

bool InputReader::read_line(std::string& text) {
  if (!std::getline(*in_, text)) {
    at_end_ = true;
    return false;
  }
  ++line_;
  bytes_ += text.size() + (in_->eof() ? 0 : 1);
  seen_ += !blank(text);
  return true;
}

std::optional<InputLine> InputReader::next() {
  if (array_) return next_element();
  std::string text;
  while (read_line(text))
    if (!blank(text)) return parse_input_line(std::move(text), line_);
  return std::nullopt;
}

void InputReader::skip_to(size_t position) {
  if (array_) {
    next_element_ = std::min(position, array_->size());
    return;
  }
  std::string text;
  while (line_ < position && read_line(text)) {
  }
  if (line_ < position) throw ConfigError({path_, int(line_)}, "the input is shorter than the run being resumed");
}

std::optional<InputReader::Total> InputReader::total() const {
  if (array_) return Total{array_->size(), false};
  if (at_end_ || (size_ && bytes_ >= *size_)) return Total{seen_, false};
  if (!size_ || seen_ == 0 || bytes_ == 0) return std::nullopt;
  const double per_byte = double(seen_) / double(bytes_);
  return Total{std::max(seen_, size_t(per_byte * double(*size_) + 0.5)), true};
}

}  // namespace skein
