// Types: the keyword subset, `$ref` resolution, validation messages, grammar conversion.
#include <gtest/gtest.h>

#include <map>

#include "skein/schema.hpp"

namespace skein {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(SchemaTest, UnsupportedKeywordIsRefusedByName) {
  const std::string msg = error_of([] {
    TypeSet t;
    t.add("T", Json::parse(R"({"type":"object","properties":{"a":{"type":"string","format":"email"}}})"),
          {"types.yaml", 3}, {{"/properties/a/format", 7}});
  });
  EXPECT_NE(msg.find("unsupported JSON Schema keyword 'format'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("types.yaml:7"), std::string::npos) << msg;
}

TEST(SchemaTest, BadTypeNameAndMalformedBoundsAreRefused) {
  EXPECT_NE(error_of([] { TypeSet().make("T", Json::parse(R"({"type":"str"})")); }).find("`type` must be one of"),
            std::string::npos);
  EXPECT_NE(error_of([] { TypeSet().make("T", Json::parse(R"({"type":"string","minLength":-1})")); }).find("minLength"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              TypeSet().make("T", Json::parse(R"({"type":"object","properties":{},"required":["x"]})"));
            }).find("required field 'x'"),
            std::string::npos);
}

TEST(SchemaTest, RefToUnknownTypeIsAnError) {
  TypeSet t;
  t.add("A", Json::parse(R"({"type":"object","properties":{"b":{"$ref":"B"}}})"));
  EXPECT_NE(error_of([&] { t.get("A"); }).find("`$ref: B` names no declared type"), std::string::npos);
  EXPECT_NE(error_of([&] { t.get("Nope"); }).find("unknown type 'Nope'"), std::string::npos);
}

TEST(SchemaTest, RefsBecomeSelfContainedDefs) {
  TypeSet t;
  t.add("Address", Json::parse(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})"));
  t.add("Person", Json::parse(R"({"type":"object","properties":{"home":{"$ref":"Address"}},"required":["home"]})"));
  TypePtr p = t.get("Person");
  EXPECT_EQ(p->schema()["properties"]["home"]["$ref"], "#/$defs/Address");
  EXPECT_TRUE(p->schema()["$defs"].contains("Address"));
  EXPECT_TRUE(p->validate(Json::parse(R"({"home":{"city":"Oslo"}})")).empty());
  EXPECT_FALSE(p->validate(Json::parse(R"({"home":{}})")).empty());
  EXPECT_NE(p->grammar().find("city"), std::string::npos);
}

TEST(SchemaTest, RecursiveTypeValidatesAndConverts) {
  TypeSet t;
  t.add("Node", Json::parse(R"({"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"Node"}}},
      "required":["kids"]})"));
  TypePtr n = t.get("Node");
  EXPECT_TRUE(n->validate(Json::parse(R"({"kids":[{"kids":[]},{"kids":[{"kids":[]}]}]})")).empty());
  EXPECT_FALSE(n->validate(Json::parse(R"({"kids":[{"kids":3}]})")).empty());
  EXPECT_FALSE(n->grammar().empty());
}

TEST(SchemaTest, ValidationMessagesNameTheField) {
  TypeSet t;
  TypePtr v = t.make("V", Json::parse(R"({"type":"object","properties":{"confidence":{"type":"number","minimum":0,
      "maximum":1}},"required":["confidence"]})"));
  auto errors = v->validate(Json::parse(R"({"confidence": 3})"));
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].find("confidence"), std::string::npos) << errors[0];
  EXPECT_FALSE(v->validate(Json::parse(R"({})")).empty());
}

TEST(SchemaTest, KeywordsOfTheSubsetValidate) {
  TypeSet t;
  struct Case {
    const char* schema;
    const char* good;
    const char* bad;
  };
  const Case cases[] = {
      {R"({"enum":["a","b"]})", R"("a")", R"("c")"},
      {R"({"const":5})", "5", "6"},
      {R"({"type":["string","null"]})", "null", "1"},
      {R"({"type":"string","pattern":"^[0-9]+$"})", R"("123")", R"("12a")"},
      {R"({"type":"string","minLength":2,"maxLength":3})", R"("ab")", R"("abcd")"},
      {R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2})", "[1]", "[]"},
      {R"({"type":"integer","minimum":1,"maximum":3})", "3", "4"},
      {R"({"anyOf":[{"type":"string"},{"type":"integer"}]})", "7", "true"},
      {R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false})", R"({"a":1})",
       R"({"b":1})"},
  };
  for (const auto& c : cases) {
    TypePtr type = t.make("T", Json::parse(c.schema));
    EXPECT_TRUE(type->validate(Json::parse(c.good)).empty()) << c.schema << " " << c.good;
    EXPECT_FALSE(type->validate(Json::parse(c.bad)).empty()) << c.schema << " " << c.bad;
  }
}

// Primitive types are checked without valijson when the value surely fits: the verdicts and the
// messages of misfits are those of the full validator.
TEST(SchemaTest, PrimitiveTypesAcceptExactlyTheirValuesWithTheUsualMessages) {
  const std::vector<Json> values = {Json(1),    Json(-2),      Json(1.5),     Json("a"),
                                    Json(true), Json(nullptr), Json::array(), Json::object()};
  const std::map<std::string, std::vector<bool>> fits = {
      {"integer", {true, true, false, false, false, false, false, false}},
      {"number", {true, true, true, false, false, false, false, false}},
      {"string", {false, false, false, true, false, false, false, false}},
      {"boolean", {false, false, false, false, true, false, false, false}},
      {"null", {false, false, false, false, false, true, false, false}}};
  for (const auto& [type, expected] : fits) {
    const Type t("T", Json{{"type", type}});
    for (size_t i = 0; i < values.size(); ++i) {
      const auto errors = t.validate(values[i]);
      EXPECT_EQ(errors.empty(), expected[i]) << type << " " << values[i].dump();
      if (!expected[i] && !errors.empty()) EXPECT_EQ(errors[0].substr(0, 3), "/: ") << errors[0];
    }
  }
}

TEST(SchemaTest, BoundedNumberGrammarRestrictsTheIntegerPart) {
  TypePtr v = TypeSet().make("V", Json::parse(R"({"type":"number","minimum":0,"maximum":1})"));
  EXPECT_NE(v->grammar().find("(\"0\")"), std::string::npos) << v->grammar();
  EXPECT_EQ(v->grammar().find("SKEINNUM"), std::string::npos) << v->grammar();
}

// From the JSON-Schema-Test-Suite: a property may be called `$ref`; it is a name, not a reference
// (this aborted skein with an uncaught nlohmann::json::type_error).
TEST(SchemaTest, APropertyNamedRefIsAPropertyNotAReference) {
  TypeSet types;
  types.add("T", Json::parse(R"({"type": "object", "properties": {"$ref": {"type": "string"}}})"));
  const TypePtr t = types.get("T");
  EXPECT_TRUE(t->validate(Json::parse(R"({"$ref": "a"})")).empty());
  EXPECT_FALSE(t->validate(Json::parse(R"({"$ref": 1})")).empty());
  try {
    EXPECT_FALSE(t->grammar().empty());
  } catch (const ConfigError& e) {  // refused with the reason is fine; an abort is not
    EXPECT_NE(std::string(e.what()).find("grammar"), std::string::npos);
  }
}

// Found by fuzz_type: a boolean schema as a named type (its `$defs` had nowhere to go).
TEST(SchemaTest, ABooleanTypeIsAcceptedAsIs) {
  TypeSet types;
  types.add("T", Json(true));
  const TypePtr t = types.get("T");
  EXPECT_TRUE(t->validate(Json::parse(R"({"any": [1]})")).empty());
}

}  // namespace
}  // namespace skein
