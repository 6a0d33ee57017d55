#include "json_line.hpp"

#include <array>
#include <charconv>

namespace skein {

JsonLine::JsonLine()
    : serializer_(nlohmann::detail::output_adapter<char, std::string>(text_), ' ', Json::error_handler_t::replace) {}

JsonLine& JsonLine::value(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object: {
      text_ += '{';
      bool first = true;
      for (const auto& [key, item] : v.get_ref<const Json::object_t&>()) {
        if (!first) text_ += ',';
        first = false;
        string(key).raw(":").value(item);
      }
      text_ += '}';
      return *this;
    }
    case Json::value_t::array: {
      text_ += '[';
      bool first = true;
      for (const Json& item : v.get_ref<const Json::array_t&>()) {
        if (!first) text_ += ',';
        first = false;
        value(item);
      }
      text_ += ']';
      return *this;
    }
    case Json::value_t::string:
      if (ascii_string(v.get_ref<const std::string&>())) return *this;
      break;
    case Json::value_t::number_integer:
      return integer(v.get<long long>());
    case Json::value_t::boolean:
      return raw(v.get<bool>() ? "true" : "false");
    case Json::value_t::null:
      return raw("null");
    default:  // floats, unsigned integers, binary
      break;
  }
  serializer_.dump(v, false, false, 0);
  return *this;
}

JsonLine& JsonLine::string(std::string_view s) {
  if (ascii_string(s)) return *this;
  string_.get_ref<std::string&>().assign(s);  // (the serializer escapes only within a value)
  serializer_.dump(string_, false, false, 0);
  return *this;
}

namespace {

// The bytes a string cannot hold as they are: control characters, '"', '\\', and those beyond ASCII.
constexpr std::array<bool, 256> kSpecial = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[size_t(c)] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
  return t;
}();

}  // namespace

// Escapes as nlohmann does without ensure_ascii: the short forms, other control characters as
// \u00xx (lower case), everything else (0x7f included) as it is.
bool JsonLine::ascii_string(std::string_view s) {
  size_t first = 0;  // the first byte that is not plain
  while (first < s.size() && !kSpecial[static_cast<unsigned char>(s[first])]) ++first;
  if (first == s.size()) {  // the common case: nothing to escape
    text_ += '"';
    text_.append(s);
    text_ += '"';
    return true;
  }
  for (size_t i = first; i < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) >= 0x80) return false;
  text_ += '"';
  size_t plain = 0;  // the start of the run not yet written
  for (size_t i = first; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    text_.append(s.substr(plain, i - plain));
    plain = i + 1;
    switch (c) {
      case '"':
        text_ += "\\\"";
        break;
      case '\\':
        text_ += "\\\\";
        break;
      case '\b':
        text_ += "\\b";
        break;
      case '\f':
        text_ += "\\f";
        break;
      case '\n':
        text_ += "\\n";
        break;
      case '\r':
        text_ += "\\r";
        break;
      case '\t':
        text_ += "\\t";
        break;
      default: {
        static const char hex[] = "0123456789abcdef";
        const char escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
        text_.append(escaped, sizeof escaped);
      }
    }
  }
  text_.append(s.substr(plain));
  text_ += '"';
  return true;
}

JsonLine& JsonLine::integer(long long n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  text_.append(digits, end);
  return *this;
}

}  // namespace skein
