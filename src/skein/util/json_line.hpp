// One JSON line built in place, for the run folder's files: values serialised straight into a
// buffer kept from line to line, with the bytes of Json::dump(-1, ' ', false,
// error_handler_t::replace), without the temporary strings and copied values of building a Json
// to dump it. Objects, arrays, integers and ASCII text are written here, whole runs of text at a
// time; floats and text with bytes beyond ASCII (checked and replaced as UTF-8) go through
// nlohmann's own serializer, which writes a character at a time.
//
// Not thread-safe: one per writer.
#pragma once
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
    text_.clear();
    return *this;
  }
  JsonLine& raw(std::string_view text) {  // as it is: punctuation, a newline
    text_ += text;
    return *this;
  }
  JsonLine& value(const Json& v);
  JsonLine& string(std::string_view s);  // quoted and escaped, as a JSON string value or key
  JsonLine& integer(long long n);
  const std::string& text() const { return text_; }

 private:
  bool ascii_string(std::string_view s);  // false (nothing written) when `s` is not all ASCII
  std::string text_;                      // before serializer_, which writes into it
  nlohmann::detail::serializer<Json> serializer_;
  Json string_ = "";  // string()'s, its capacity kept
};

}  // namespace skein
