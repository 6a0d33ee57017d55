// parse_json gives what Json::parse gives: the same value, dumped the same, the same key order,
// and for text it refuses the same exception and message.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/parse_json.hpp"

namespace skein {
namespace {

// The outcome of one parse: the value dumped, or the exception's type and message.
std::string outcome(Json (*parse)(std::string_view), const std::string& text) {
  try {
    return "value " + parse(text).dump();
  } catch (const Json::parse_error& e) {
    return std::string("parse_error ") + e.what();
  } catch (const Json::exception& e) {
    return std::string("exception ") + e.what();
  }
}

Json nlohmann_parse(std::string_view text) { return Json::parse(text); }

TEST(ParseJsonTest, GivesWhatJsonParseGives) {
  const std::vector<std::string> texts = {
      R"({"text": "record 1", "tags": ["a", "b", "c"]})",
      R"({"z": 1, "a": 2, "m": {"y": [], "b": {}}})",  // key order kept
      R"({"a": 1, "b": 2, "a": 3})",                   // a repeated key: first place, last value
      R"([1, -1, 0, -0, 1.0, -0.0, 1e2, 1E-2, 2.5e-320, 18446744073709551615, -9223372036854775808])",
      R"(123456789012345678901234567890)",                // beyond 64 bits: a float to Json::parse
      R"(1e400)",                                         // out of range
      R"("\u00e9\ud83d\ude00 \" \\ \/ \b \f \n \r \t")",  // escapes and a surrogate pair
      "\"caf\xc3\xa9\"",                                  // UTF-8
      "\"\xff\"",                                         // not UTF-8
      R"("\ud800")",                                      // a lone surrogate
      "\xef\xbb\xbf{\"bom\": true}",                      // a byte order mark
      R"({"a": 1,})",
      R"([1 2])",
      R"({"a" 1})",
      "",
      "   ",
      "nul",
      "tru",
      R"({"a": 1} x)",
      R"("a)",
      "\"tab\there\"",
      R"(01)",
      R"(1.)",
      R"(-)",
      R"(.5)",
      R"(+1)",
      R"([1,])",
      "  {\"a\": [true, false, null]}  \n",
      R"("\udc00")",
      R"("\ud800\u0041")",
      R"("\ud800\ud800")",
      R"("\u12g4")",                   // bad escapes
      R"({"\u0000key": "a\u0000b"})",  // NUL escaped
      std::string("{}\0x", 4),
      std::string("\0", 1),
      std::string("[1]\0", 4),  // NUL in the text
      R"([-1e-400, 1e-400, 0e999999999999999999999, 1e0000000000000000000001])",
      R"([9223372036854775807, 9223372036854775808, 18446744073709551616, -9223372036854775809])",
      R"(3.14159265358979323846264338327950288419716939937510)",  // more digits than a double holds
      R"({"a": {"x": 1}, "b": 2, "a": [1]})",                     // a repeated key, nested values
  };
  for (const auto& text : texts) EXPECT_EQ(outcome(parse_json, text), outcome(nlohmann_parse, text)) << text;
}

// How deep the first items of nested lists go (a walk, not a recursion: a dump of 1,000 levels
// overflows the stack under ASan).
size_t depth(const Json& j) {
  size_t levels = 0;
  for (const Json* p = &j; p->is_array(); p = &p->front(), ++levels)
    if (p->empty()) return levels + 1;
  return levels;
}

TEST(ParseJsonTest, NestingAroundSimdjsonsLimitGivesWhatJsonParseGives) {
  for (size_t levels : {1023, 1024, 1025, 1100})
    for (const std::string inner : {"", "1"}) {
      const std::string text = std::string(levels, '[') + inner + std::string(levels, ']');
      EXPECT_EQ(depth(parse_json(text)), levels);
      EXPECT_EQ(depth(Json::parse(text)), levels);
    }
}

TEST(ParseJsonTest, NumbersKeepJsonParsesTypes) {
  const Json j = parse_json(R"([1, -1, 1.5, 18446744073709551615])");
  EXPECT_TRUE(j[0].is_number_unsigned());
  EXPECT_TRUE(j[1].is_number_integer() && !j[1].is_number_unsigned());
  EXPECT_TRUE(j[2].is_number_float());
  EXPECT_EQ(j[3].get<uint64_t>(), 18446744073709551615ULL);
  // simdjson reads the first as int64 and the second as uint64: both unsigned, as Json::parse has them
  const Json edge = parse_json("[9223372036854775807, 9223372036854775808]");
  EXPECT_TRUE(edge[0].is_number_unsigned() && edge[1].is_number_unsigned());
}

TEST(ParseJsonTest, TextsOverAMebibyteGiveTheSame) {
  const std::string big = "{\"text\": \"" + std::string(2 << 20, 'x') + "\", \"n\": [1, -2, 3.5]}";
  EXPECT_EQ(parse_json(big).dump(), Json::parse(big).dump());
  EXPECT_EQ(outcome(parse_json, big + ","), outcome(nlohmann_parse, big + ","));
}

TEST(ParseJsonTest, ALongTextAfterAShortOneOnTheSameThread) {
  const std::string big = "[" + std::string(100000, ' ') + "\"end\"]";
  EXPECT_EQ(parse_json("[1]"), Json::parse("[1]"));
  EXPECT_EQ(parse_json(big), Json::parse(big));
  EXPECT_EQ(parse_json("{}"), Json::object());
}

}  // namespace
}  // namespace skein
