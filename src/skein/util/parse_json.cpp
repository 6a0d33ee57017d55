#include "parse_json.hpp"

#include <simdjson.h>

#include <algorithm>
#include <string>

// Older simdjson accepts lone surrogates ("\udc00") that Json::parse refuses (fixed in 2.2.3).
static_assert(simdjson::SIMDJSON_VERSION_MAJOR >= 3, "parse_json needs simdjson 3 or later");

namespace skein {
namespace {

namespace dom = simdjson::dom;

// simdjson's parser keeps about 15 times the largest text it has read: longer texts go to Json::parse.
constexpr size_t kLongestText = size_t(1) << 20;

// A kind of value this code does not know (a later simdjson's): Json::parse reads the text.
struct UnknownKind {};

Json to_json(dom::element e) {
  switch (e.type()) {
    case dom::element_type::OBJECT: {
      const dom::object members = e.get_object().value_unsafe();
      Json object = object_with_room(members.size());
      auto& out = object.get_ref<Json::object_t&>();
      for (const dom::key_value_pair member : members) {
        const auto same = [&](const auto& m) { return m.first == member.key; };
        if (const auto at = std::find_if(out.begin(), out.end(), same); at != out.end())
          at->second = to_json(member.value);  // a repeated key: the last value wins, where the first was
        else
          out.emplace_back(std::string(member.key), to_json(member.value));
      }
      return object;
    }
    case dom::element_type::ARRAY: {
      const dom::array items = e.get_array().value_unsafe();
      Json array = Json::array();
      auto& values = array.get_ref<Json::array_t&>();
      values.reserve(items.size());
      for (const dom::element item : items) values.push_back(to_json(item));
      return array;
    }
    case dom::element_type::STRING:
      return std::string(e.get_string().value_unsafe());
    case dom::element_type::INT64: {
      const int64_t n = e.get_int64().value_unsafe();
      if (n >= 0) return uint64_t(n);  // as Json::parse: what has no minus sign is unsigned
      return n;
    }
    case dom::element_type::UINT64:
      return e.get_uint64().value_unsafe();
    case dom::element_type::DOUBLE:
      return e.get_double().value_unsafe();
    case dom::element_type::BOOL:
      return e.get_bool().value_unsafe();
    case dom::element_type::NULL_VALUE:
      return nullptr;
    default:
      break;
  }
  throw UnknownKind{};
}

}  // namespace

Json parse_json(std::string_view text) {
  if (text.size() > kLongestText) return Json::parse(text);
  thread_local dom::parser parser;
  thread_local std::string padded;  // simdjson reads up to SIMDJSON_PADDING bytes past the end
  padded.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  padded.assign(text);
  dom::element root;
  if (parser.parse(padded.data(), padded.size(), false).get(root) != simdjson::SUCCESS)
    return Json::parse(text);  // its error, or its value where simdjson is stricter
  try {
    return to_json(root);
  } catch (const UnknownKind&) {
    return Json::parse(text);
  }
}

}  // namespace skein
