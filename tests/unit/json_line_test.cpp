// The run folder's lines written in place are the bytes the Json objects they replace dumped:
// flattened rows (nested objects, empty ones, lists, a dotted key beside the object it spells, a
// node named `id`, text that is not UTF-8) and output lines.
#include <gtest/gtest.h>

#include <climits>

#include "chain/flatten.hpp"
#include "util/json_line.hpp"

namespace skein {
namespace {

// The rows as they were made before: a Json object built key by key, then dumped.
void flatten_into(Json& out, const std::string& prefix, const Json& value) {
  if (!value.is_object() || value.empty()) {
    out[prefix] = value;
    return;
  }
  for (const auto& [k, v] : value.items()) flatten_into(out, prefix + "." + k, v);
}
std::string reference_row(const Json& history, const std::string& id) {
  Json out{{"row_id", history.value("row_id", Json())}, {"id", id}};
  for (const auto& [key, value] : history.items())
    if (key != "row_id") flatten_into(out, key, value);
  return out.dump(-1, ' ', false, Json::error_handler_t::replace) + '\n';
}

TEST(JsonLineTest, FlattenedRowsAreTheBytesOfTheObjectTheyReplace) {
  const Json histories[] = {
      Json::parse(R"({"chain_input": {"text": "a", "n": 1.5, "tags": ["x", {"y": 1}]}, "row_id": 3,
                      "verdict": {"label": "ok", "why": {"a": null, "b": {}}}})"),
      Json::parse(R"({"chain_input": {"a.b": 1, "a": {"b": 2, "c": [1, 2]}}, "row_id": 0, "id": {"x": true},
                      "chain_input.a.c": "last"})"),
      Json::parse(R"({"chain_input": {}, "row_id": 9, "e": "caf\u00e9 \" \\ \n \u0001"})"),
      Json::parse(R"({"chain_input": {"k": 1}})"),
      Json::parse(R"({"id": 5, "chain_input": {"id": "x"}, "row_id": 2})"),  // a node named `id`: its value wins
      Json{{"chain_input", {{"bad", std::string("\xff\xfe ok")}}}, {"row_id", 1}},
  };
  JsonLine line;
  for (const Json& h : histories) {
    flattened_line(h, "3.1", line);
    EXPECT_EQ(line.text(), reference_row(h, "3.1")) << h.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

// A row is laid out once and the rows after it of the same shape reuse the layout: every change of
// shape, however small (a key, a value that becomes an object or an empty one, one member more or
// less, `row_id` or `id` coming or going), is seen, and rows of one shape take their own values.
TEST(JsonLineTest, RowsOfOneShapeReuseItsLayoutAndEveryOtherShapeIsLaidOutAgain) {
  const char* shapes[] = {
      R"({"chain_input": {"text": "a", "tags": ["x"]}, "row_id": 1, "tag": "x", "shaped": {"t": "A"}})",
      R"({"chain_input": {"text": "b", "tags": ["y", "z"]}, "row_id": 2, "tag": "y", "shaped": {"t": "B"}})",
      R"({"chain_input": {"text": "b", "tags": []}, "row_id": 2, "tag": "y", "shaped": {"u": "B"}})",
      R"({"chain_input": {"text": "b", "tags": []}, "row_id": 2, "tag": {"k": 1}, "shaped": {"u": "B"}})",
      R"({"chain_input": {"text": "b", "tags": []}, "row_id": 2, "tag": {}, "shaped": {"u": "B"}})",
      R"({"chain_input": {"text": "b", "tags": []}, "row_id": 2, "tag": {}})",
      R"({"chain_input": {"text": "b", "tags": []}, "tag": {}})",
      R"({"chain_input": {"text": "b", "tags": []}, "tag": {}, "id": "mine"})",
      R"({"chain_input": {"text": "c", "tags": []}, "tag": {}, "id": "theirs"})",
      R"({"chain_input": {"text": "b", "tags": [], "more": 1}, "tag": {}, "id": "mine"})",
      R"({"chain_input": {"a.b": 1, "a": {"b": 2}}, "row_id": 3})",
      R"({"chain_input": {"a.b": 5, "a": {"b": 6}}, "row_id": 4})",
      R"({"chain_input": {"a": {"b": 6}, "a.b": 5}, "row_id": 4})",
      R"({"chain_input": {"text": "a", "tags": ["x"]}, "row_id": 1, "tag": "x", "shaped": {"t": "A"}})",
  };
  JsonLine line;
  for (int round = 0; round < 2; ++round)  // each shape after itself, and after another
    for (const char* text : shapes) {
      const Json h = Json::parse(text);
      for (int twice = 0; twice < 1 + round; ++twice) {
        flattened_line(h, "7.0", line);
        EXPECT_EQ(line.text(), reference_row(h, "7.0")) << text;
      }
    }
}

TEST(JsonLineTest, AnOutputLineIsTheObjectItSpells) {
  const Json value = Json::parse(R"({"a": [1, 2.25, "x\ty"], "b": {"c": null}})");
  JsonLine line;
  line.clear().raw("{\"row_id\":").integer(-12).raw(",\"id\":").string("12.0").raw(",\"output\":").value(value);
  line.raw("}\n");
  const Json same{{"row_id", -12}, {"id", "12.0"}, {"output", value}};
  EXPECT_EQ(line.text(), same.dump() + "\n");
  line.clear().value(Json(std::string("\xc3\x28"))).raw("\n");  // not UTF-8: replaced, as the files always did
  EXPECT_EQ(line.text(), Json(std::string("\xc3\x28")).dump(-1, ' ', false, Json::error_handler_t::replace) + "\n");
}

// Every kind of value, written here or by nlohmann's serializer, gives Json::dump's bytes.
TEST(JsonLineTest, EveryKindOfValueIsTheBytesJsonDumps) {
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls += char(c);
  controls += "\x7f \" \\ / plain";
  Json value = Json::parse(R"({"ints": [0, -1, 9223372036854775807, -9223372036854775808], "floats": [1.0, -0.0,
      1e300, 0.1, 3.25], "flags": [true, false, null], "empty": [{}, [], ""], "caf\u00e9 \"key\"": "\u00e9t\u00e9",
      "nested": {"a": {"b": [[], {"c": [1, {"d": "x\ny"}]}]}}})");
  value["controls"] = controls;
  value["unsigned"] = uint64_t(18446744073709551615ull);
  value["bad utf-8 key \xff"] = std::string("\xe2\x82 tail");
  value[controls] = 1;
  JsonLine line;
  for (const Json& v : {value, Json(controls), Json(2.5), Json(nullptr), Json::object(), Json::array()}) {
    line.clear().value(v);
    EXPECT_EQ(line.text(), v.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  line.clear().string(controls);
  EXPECT_EQ(line.text(), Json(controls).dump());
}

// Integers keep their last digits for the next line (a record's lines repeat its row id): each
// number, repeated or not, zero first, is still its own digits.
TEST(JsonLineTest, IntegersRepeatedOrNotAreTheirDigits) {
  JsonLine line;
  const long long numbers[] = {0, 0, 7, 7, 7, -7, 0, 1234567890123, 1234567890123, LLONG_MIN, LLONG_MAX, 0};
  for (long long n : numbers) {
    line.clear().integer(n);
    EXPECT_EQ(line.text(), std::to_string(n));
  }
}

// Text is checked eight bytes at a time, the last word overlapping the one before; shorter text as
// two overlapping half words, or three bytes: every byte that needs escaping (or is beyond ASCII)
// is found wherever it sits, at every length up to three words and a byte.
TEST(JsonLineTest, EveryByteThatNeedsEscapingIsFoundAtEveryPlace) {
  JsonLine line;
  for (int c = 0; c < 256; ++c)
    for (size_t length = 1; length <= 25; ++length) {
      for (size_t at = 0; at < length; ++at) {
        std::string text(length, 'a' + char(at % 26));
        text[at] = char(c);
        line.clear().string(text);
        ASSERT_EQ(line.text(), Json(text).dump(-1, ' ', false, Json::error_handler_t::replace))
            << "byte " << c << " at " << at << " of " << length;
      }
    }
}

// Plain text of every length up to 40 (copied as words that overlap), alone and after other text.
TEST(JsonLineTest, PlainTextOfEveryLengthIsCopiedWhole) {
  JsonLine line;
  std::string text;
  for (size_t length = 0; length <= 40; ++length, text += char('a' + length % 26)) {
    line.clear().string(text).raw(",").raw(text);
    ASSERT_EQ(line.text(), Json(text).dump() + "," + text) << length;
  }
}

}  // namespace
}  // namespace skein
