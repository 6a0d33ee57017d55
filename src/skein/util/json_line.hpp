// One JSON line built in place, for the run folder's files: values serialised straight into a
// buffer kept from line to line by nlohmann's own serializer, with the settings of
// Json::dump(-1, ' ', false, error_handler_t::replace): the same bytes, without the temporary
// strings and copied values of building a Json to dump it.
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
  JsonLine& value(const Json& v) {
    serializer_.dump(v, false, false, 0);
    return *this;
  }
  JsonLine& string(const std::string& s) {  // quoted and escaped, as a JSON string value or key
    string_.get_ref<std::string&>() = s;    // (the serializer escapes only within a value)
    return value(string_);
  }
  JsonLine& integer(long long n);
  const std::string& text() const { return text_; }

 private:
  std::string text_;  // before serializer_, which writes into it
  nlohmann::detail::serializer<Json> serializer_;
  Json string_ = "";  // string()'s, its capacity kept
};

}  // namespace skein
