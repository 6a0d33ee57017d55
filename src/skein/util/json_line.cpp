#include "json_line.hpp"

#include <charconv>

namespace skein {

JsonLine::JsonLine()
    : serializer_(nlohmann::detail::output_adapter<char, std::string>(text_), ' ', Json::error_handler_t::replace) {}

JsonLine& JsonLine::integer(long long n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  text_.append(digits, end);
  return *this;
}

}  // namespace skein
