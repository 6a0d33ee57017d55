// One JSON line built in place, for the run folder's files: values serialised straight into a
// buffer kept from line to line (appends inlined: a bounds check and a copy), with the bytes of Json::dump(-1, ' ',
// false, error_handler_t::replace), without the temporary strings and copied values of building a Json to dump it.
// Objects, arrays, integers and ASCII text are written here, whole runs of text at a time; floats and text with bytes
// beyond ASCII (checked and replaced as UTF-8) go through nlohmann's own serializer, which writes a character at a
// time.
//
// Not thread-safe: one per writer.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "skein/json.hpp"

namespace skein {

class JsonLine {
 public:
  JsonLine();
  JsonLine(const JsonLine&) = delete;
  JsonLine& operator=(const JsonLine&) = delete;

  JsonLine& clear() {
    size_ = 0;
    return *this;
  }
  // Text (never a view of this line's own text) as it is: punctuation, a newline.
  JsonLine& raw(std::string_view text) {
    copy(room(text.size()), text.data(), text.size());
    size_ += text.size();
    return *this;
  }
  JsonLine& put(char c) {
    *room(1) = c;
    ++size_;
    return *this;
  }
  JsonLine& value(const Json& v);
  JsonLine& string(std::string_view s);  // quoted and escaped, as a JSON string value or key
  JsonLine& integer(long long n);
  std::string_view text() const { return {text_.data(), size_}; }

 private:
  char* room(size_t n) {  // where the next n bytes go (size_ counts them once written)
    if (size_ + n > text_.size()) [[unlikely]]
      grow(n);
    return text_.data() + size_;
  }
  void grow(size_t n);
  // n bytes from `from` to `to` (which do not overlap): most pieces of a line are short, and are
  // copied here as two words that may overlap, without a call.
  static void copy(char* to, const char* from, size_t n) {
    if (n > 16)
      std::memcpy(to, from, n);
    else if (n >= 8)
      copy_ends<uint64_t>(to, from, n);
    else if (n >= 4)
      copy_ends<uint32_t>(to, from, n);
    else if (n > 0)
      to[0] = from[0], to[n / 2] = from[n / 2], to[n - 1] = from[n - 1];
  }
  // The first and the last word of n bytes, sizeof(Word) <= n <= 2 * sizeof(Word): all of them.
  template <typename Word>
  static void copy_ends(char* to, const char* from, size_t n) {
    Word head, tail;
    std::memcpy(&head, from, sizeof(Word));
    std::memcpy(&tail, from + n - sizeof(Word), sizeof(Word));
    std::memcpy(to, &head, sizeof(Word));
    std::memcpy(to + n - sizeof(Word), &tail, sizeof(Word));
  }
  bool ascii_string(std::string_view s);    // false (nothing written) when `s` is not all ASCII
  bool escaped_string(std::string_view s);  // ascii_string()'s, for a string with a byte to escape
  std::string text_;                        // the line, then room: before serializer_, which writes into it
  size_t size_ = 0;
  nlohmann::detail::serializer<Json> serializer_;
  // integer()'s last number and its digits: a record's lines mostly repeat its row id
  long long last_integer_ = 0;
  char digits_[20] = {'0'};
  size_t digits_size_ = 1;
  Json string_ = "";  // string()'s, its capacity kept
};

}  // namespace skein
