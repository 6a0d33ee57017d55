#include "json_line.hpp"

#include <array>
#include <charconv>

namespace skein {
namespace {

// nlohmann's serializer writing into the line.
class LineOutput : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  explicit LineOutput(JsonLine& line) : line_(line) {}
  void write_character(char c) override { line_.put(c); }
  void write_characters(const char* s, std::size_t length) override { line_.raw({s, length}); }

 private:
  JsonLine& line_;
};

}  // namespace

JsonLine::JsonLine()
    : text_(256, '\0'), serializer_(std::make_shared<LineOutput>(*this), ' ', Json::error_handler_t::replace) {}

JsonLine& JsonLine::value(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object: {
      put('{');
      bool first = true;
      for (const auto& [key, item] : v.get_ref<const Json::object_t&>()) {
        if (!first) put(',');
        first = false;
        string(key);
        put(':');
        value(item);
      }
      put('}');
      return *this;
    }
    case Json::value_t::array: {
      put('[');
      bool first = true;
      for (const Json& item : v.get_ref<const Json::array_t&>()) {
        if (!first) put(',');
        first = false;
        value(item);
      }
      put(']');
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

// Whether none of the 8 bytes of `w` is a control character, '"', '\\' or beyond ASCII (the
// bit tricks of "Bit Twiddling Hacks": a byte below n, a byte equal to c, exact for the word).
bool plain8(uint64_t w) {
  constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  const auto equal = [&](uint64_t c) {
    const uint64_t x = w ^ (ones * c);
    return (x - ones) & ~x;
  };
  const uint64_t below_space = (w - ones * 0x20) & ~w;
  return ((below_space | equal('"') | equal('\\') | w) & highs) == 0;
}

// Whether no byte of `s` is a control character, '"', '\\' or beyond ASCII: a word at a time, the
// last one overlapping the one before; a string shorter than a word is read as words that
// overlap, or byte by byte, with spaces for the rest.
bool plain(std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  if (n >= 8) {
    uint64_t w;
    for (size_t at = 0; at + 8 < n; at += 8) {
      std::memcpy(&w, p + at, 8);
      if (!plain8(w)) return false;
    }
    std::memcpy(&w, p + n - 8, 8);
    return plain8(w);
  }
  if (n >= 4) {
    uint32_t head, tail;
    std::memcpy(&head, p, 4);
    std::memcpy(&tail, p + n - 4, 4);
    return plain8(uint64_t(head) | uint64_t(tail) << 32);
  }
  if (n == 0) return true;
  const auto byte = [&](size_t i) { return uint64_t(static_cast<unsigned char>(p[i])); };
  return plain8(byte(0) | byte(n / 2) << 8 | byte(n - 1) << 16 | 0x2020202020ull << 24);
}

}  // namespace

// Escapes as nlohmann does without ensure_ascii: the short forms, other control characters as
// \u00xx (lower case), everything else (0x7f included) as it is.
bool JsonLine::ascii_string(std::string_view s) {
  if (!plain(s)) return escaped_string(s);
  char* to = room(s.size() + 2);  // the common case: nothing to escape
  to[0] = '"';
  copy(to + 1, s.data(), s.size());
  to[s.size() + 1] = '"';
  size_ += s.size() + 2;
  return true;
}

bool JsonLine::escaped_string(std::string_view s) {
  size_t first = 0;  // the first byte that is not plain
  while (first < s.size() && !kSpecial[static_cast<unsigned char>(s[first])]) ++first;
  for (size_t i = first; i < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) >= 0x80) return false;
  put('"');
  size_t plain = 0;  // the start of the run not yet written
  for (size_t i = first; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    raw(s.substr(plain, i - plain));
    plain = i + 1;
    switch (c) {
      case '"':
        raw("\\\"");
        break;
      case '\\':
        raw("\\\\");
        break;
      case '\b':
        raw("\\b");
        break;
      case '\f':
        raw("\\f");
        break;
      case '\n':
        raw("\\n");
        break;
      case '\r':
        raw("\\r");
        break;
      case '\t':
        raw("\\t");
        break;
      default: {
        static const char hex[] = "0123456789abcdef";
        const char escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
        raw({escaped, sizeof escaped});
      }
    }
  }
  raw(s.substr(plain));
  put('"');
  return true;
}

void JsonLine::grow(size_t n) { text_.resize(std::max(2 * text_.size(), size_ + n)); }

JsonLine& JsonLine::integer(long long n) {
  if (n != last_integer_) {  // 19 digits and a sign: the longest long long
    digits_size_ = size_t(std::to_chars(digits_, digits_ + sizeof digits_, n).ptr - digits_);
    last_integer_ = n;
  }
  return raw({digits_, digits_size_});
}

}  // namespace skein
