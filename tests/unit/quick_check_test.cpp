// The quick check in front of valijson: it knows the common forms, refuses the others, and never
// accepts a value valijson rejects.
#include <gtest/gtest.h>

#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "schema/keyword_plan.hpp"
#include "schema/quick_check.hpp"
#include "skein/schema.hpp"

namespace skein {
namespace {

bool valijson_accepts(const Json& schema, const Json& value) {
  const nlohmann::json document = validation_schema(schema);
  valijson::Schema compiled;
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter schema_adapter(document);
  parser.populateSchema(schema_adapter, compiled);
  const nlohmann::json doc = value;
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  return valijson::Validator().validate(compiled, adapter, nullptr);
}

const char* kKnown[] = {
    R"({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})",
    // A declared type as the chain compiles it: its own definition beside it.
    R"({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
        "$defs": {"A": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}})",
    R"({"type": "object", "title": "T", "additionalProperties": false, "required": ["label"],
        "properties": {"label": {"enum": ["x", "y"], "description": "d"}, "n": {"type": "number"},
                       "tags": {"type": "array", "items": {"type": "string"}}, "none": {"type": "null"}}})",
    R"({"type": "string", "description": "d"})",
    R"({"type": "integer"})",
    R"({"type": "boolean"})",
    R"({"type": "string", "enum": ["a", "b"]})",
    R"({"type": "array"})",
    R"({"type": "object"})",
    R"({"type": "array", "items": {"type": "object", "properties": {"k": {"type": "boolean"}}}})",
    R"({"type": "object", "required": ["ghost"], "additionalProperties": false, "properties": {"a": {"type": "integer"}}})",
};

const char* kUnknown[] = {
    R"({"type": "integer", "minimum": 0})",
    R"({"type": "string", "pattern": "^a"})",
    R"({"type": ["string", "null"]})",
    R"({"anyOf": [{"type": "string"}]})",
    R"({"enum": [1, 2]})",
    R"({"type": "integer", "enum": ["a"]})",
    R"({"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}})",
    R"({"type": "object", "additionalProperties": {"type": "string"}})",
    R"({"$ref": "#/$defs/A", "$defs": {"A": {"type": "string"}}})",
    R"({"type": "array", "items": {"type": "string"}, "minItems": 1})",
};

const char* kValues[] = {
    "1",
    "1.0",
    "-3",
    "2.5",
    "1e300",
    "\"x\"",
    "\"a\"",
    "\"y\"",
    "true",
    "null",
    "[]",
    "[\"a\"]",
    "[1]",
    "{}",
    R"({"a": 1})",
    R"({"a": 1.0})",
    R"({"a": "1"})",
    R"({"a": 1, "b": [true]})",
    R"({"label": "x", "n": 1, "tags": ["a"]})",
    R"({"label": "z"})",
    R"({"label": "y", "extra": 1})",
    R"({"label": "x", "none": null, "n": 2.5})",
    R"({"label": "x", "tags": [1]})",
    R"([{"k": true}, {}])",
    R"([{"k": 1}])",
    "18446744073709551615",
    "-9223372036854775808",
    R"({"a": 18446744073709551615})",
    R"({"ghost": 1})",
    R"({"a": 1, "ghost": null})",
};

TEST(QuickCheckTest, TheCommonFormsAreCompiledAndTheOthersLeftToValijson) {
  for (const char* s : kKnown) EXPECT_TRUE(quick_check(Json::parse(s))) << s;
  for (const char* s : kUnknown) EXPECT_FALSE(quick_check(Json::parse(s))) << s;
}

TEST(QuickCheckTest, AValueItAcceptsValijsonAccepts) {
  int accepted = 0;
  for (const char* s : kKnown) {
    const Json schema = Json::parse(s);
    const QuickCheck quick = quick_check(schema);
    for (const char* v : kValues) {
      const Json value = Json::parse(v);
      if (!quick(value)) continue;
      ++accepted;
      EXPECT_TRUE(valijson_accepts(schema, value)) << s << " took " << v;
    }
  }
  EXPECT_GE(accepted, 20);
  // What the outputs of a typed step usually are, it accepts.
  const QuickCheck labelled = quick_check(Json::parse(kKnown[2]));  // the closed object
  EXPECT_TRUE(labelled(Json::parse(R"({"label": "x", "n": 1, "tags": ["a"]})")));
  EXPECT_FALSE(labelled(Json::parse(R"({"label": "y", "extra": 1})")));   // closed
  EXPECT_FALSE(labelled(Json::parse(R"({"n": 1})")));                     // required
  EXPECT_FALSE(labelled(Json::parse(R"({"label": "x", "tags": [1]})")));  // items
}

// Through a Type: a valid value has no reasons, an invalid one valijson's, for a form the check knows.
TEST(QuickCheckTest, ATypeGivesValijsonsReasonsForWhatTheCheckDoesNotAccept) {
  const Type type("Labelled", Json::parse(kKnown[2]));
  EXPECT_TRUE(type.validate(Json::parse(R"({"label": "x", "n": 1})")).empty());
  const std::string reason = type.why_invalid(Json::parse(R"({"label": "z"})"));
  EXPECT_NE(reason.find("[label]: Failed to match against any enum values"), std::string::npos)
      << reason;  // valijson's
  EXPECT_FALSE(type.why_invalid(Json::parse(R"({"label": "x", "extra": 1})")).empty());
}

}  // namespace
}  // namespace skein
