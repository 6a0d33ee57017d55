// Types: the keyword subset, `$ref` resolution, validation messages, grammar conversion.
#include <gtest/gtest.h>

#include <map>

#include "schema/keyword_plan.hpp"
#include "skein/schema.hpp"

namespace skein {
namespace {

std::string fmt_set(const std::set<std::string>& s) {
  std::string out;
  for (const auto& w : s) out += w + " ";
  return out;
}

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
    t.add("T", Json::parse(R"({"type":"object","properties":{"a":{"type":"string","unevaluatedProperties":false}}})"),
          {"types.yaml", 3}, {{"/properties/a/unevaluatedProperties", 7}});
  });
  EXPECT_NE(msg.find("unsupported JSON Schema keyword 'unevaluatedProperties'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("types.yaml:7"), std::string::npos) << msg;
}

// Found by fuzz_chain_file: a property (or a list member) that is not a schema passed the check,
// and valijson then aborted the process on it. Refused at its line; valijson's own refusals throw.
TEST(SchemaTest, AMemberThatIsNotASchemaIsRefusedAtItsLine) {
  for (const char* schema :
       {R"({"type":"object","properties":{"r  required":["label"]}})", R"({"anyOf":[{"type":"string"}, 3]})",
        R"({"$defs":{"D":"text"}})", R"({"type":"array","items":[{"type":"string"}, null]})"}) {
    const std::string msg = error_of([&] {
      TypeSet t;
      t.add("T", Json::parse(schema), {"types.yaml", 3}, {});
    });
    EXPECT_NE(msg.find("must be a schema"), std::string::npos) << schema << ": " << msg;
  }
}

// Nothing is silently ignored: a format neither side knows, a remote or dangling reference, a
// required property that can never be valid are refused where they are written.
TEST(SchemaTest, WhatNeitherTheGrammarNorTheValidatorHoldsIsRefusedWithItsLine) {
  auto refusal = [](const char* schema, const std::string& pointer) {
    return error_of([&] { TypeSet().add("T", Json::parse(schema), {"types.yaml", 3}, {{pointer, 9}}); });
  };
  std::string msg = refusal(R"({"type":"string","format":"email"})", "/format");
  EXPECT_NE(msg.find("format \"email\" is neither enforced"), std::string::npos) << msg;
  EXPECT_NE(msg.find("types.yaml:9"), std::string::npos) << msg;
  msg = refusal(R"({"items":{"$ref":"https://example.com/s.json"}})", "/items/$ref");
  EXPECT_NE(msg.find("remote references are not fetched"), std::string::npos) << msg;
  msg = refusal(R"({"properties":{"p":{"$ref":"#/definitions/Missing"}}})", "/properties/p/$ref");
  EXPECT_NE(msg.find("points to nothing in this type"), std::string::npos) << msg;
  msg = refusal(R"({"properties":{"p":false},"required":["p"]})", "/properties/p");
  EXPECT_NE(msg.find("no value can be valid"), std::string::npos) << msg;
  msg = refusal(R"({"prefixItems":[{"type":"integer"}],"items":[{"type":"string"}]})", "/items");
  EXPECT_NE(msg.find("beside `prefixItems`"), std::string::npos) << msg;
}

TEST(SchemaTest, TheReportSaysWhichKeywordsTheGrammarEnforcesAndWhichAreOnlyValidated) {
  auto report = [](const char* schema) { return keyword_report(Json::parse(schema)); };
  using Set = std::set<std::string>;
  KeywordReport r = report(R"({"type":"integer","minimum":0,"maximum":20,"multipleOf":5,"description":"d"})");
  EXPECT_EQ(r.enforced, (Set{"type", "minimum", "maximum"}));
  EXPECT_EQ(r.validated, (Set{"multipleOf"}));
  r = report(R"({"type":"number","minimum":0})");  // one bound of a number: the grammar has none
  EXPECT_EQ(r.validated, (Set{"minimum"}));
  r = report(R"({"type":"string","pattern":"^a+$","format":"date","minLength":2})");  // pattern wins
  EXPECT_EQ(r.enforced, (Set{"type", "pattern"}));
  EXPECT_EQ(r.validated, (Set{"format", "minLength"}));
  r = report(R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
                          {"properties":{"b":{"type":"integer","multipleOf":2}}}]})");
  EXPECT_EQ(r.enforced, (Set{"allOf", "type", "properties", "required"}));
  EXPECT_EQ(r.validated, (Set{"multipleOf"}));
  r = report(R"({"allOf":[{"type":"string"},{"maxLength":3}]})");  // not objects: validated
  EXPECT_TRUE(r.validated.count("allOf")) << fmt_set(r.validated);
  r = report(R"({"type":"object","properties":{"k":{"type":"integer"}},"not":{"required":["k"]}})");
  EXPECT_EQ(r.enforced, (Set{"type", "properties"}));
  EXPECT_EQ(r.validated, (Set{"not", "required"}));  // `required` inside `not` is the validator's
  r = report(R"({"type":"string","anyOf":[{"maxLength":2},{"pattern":"^x"}]})");  // a union's siblings
  EXPECT_TRUE(r.validated.count("type"));
  EXPECT_TRUE(r.enforced.count("anyOf"));
}

TEST(SchemaTest, TheValidatorHoldsNewerKeywordsInTheirDraftSevenForm) {
  TypeSet types;
  auto type = [&](const char* schema) { return types.make("T", Json::parse(schema)); };
  TypePtr tuple = type(R"({"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false})");
  EXPECT_EQ(tuple->why_invalid(Json::parse(R"([1, "a"])")), "");
  EXPECT_NE(tuple->why_invalid(Json::parse(R"(["a", 1])")), "");
  EXPECT_NE(tuple->why_invalid(Json::parse(R"([1, "a", 2])")), "");  // items: false after the tuple
  TypePtr dep = type(R"({"type":"object","properties":{"a":{},"b":{}},"dependentRequired":{"a":["b"]}})");
  EXPECT_EQ(dep->why_invalid(Json::parse(R"({"b": 1})")), "");
  EXPECT_NE(dep->why_invalid(Json::parse(R"({"a": 1})")), "");
  TypePtr uuid = type(R"({"type":"string","format":"uuid"})");
  EXPECT_EQ(uuid->why_invalid("123e4567-e89b-12d3-a456-426614174000"), "");
  EXPECT_NE(uuid->why_invalid("not-a-uuid"), "");
  TypePtr date = type(R"({"type":"string","format":"date"})");
  EXPECT_EQ(date->why_invalid("2026-12-02"), "");
  EXPECT_NE(date->why_invalid("2026-13-45"), "");
}

// Found in review: shapes where one side would drop a constraint or the grammar admit no valid value.
TEST(SchemaTest, EachSideGetsAFormItCanHoldWithoutLosingAConstraint) {
  // A tuple the converter would make exactly 1 long, where 3 items are needed: an array within the bounds.
  const Json tuple = Json::parse(R"({"type":"array","prefixItems":[{"const":"h"}],"items":{"type":"integer"},
      "minItems":3})");
  EXPECT_EQ(grammar_schema(tuple), Json::parse(R"({"type":"array","minItems":3,"items":{}})"));
  // An allOf part reached by reference is put in the grammar's form too (no boolean left).
  TypeSet types;
  TypePtr merged = types.make("M", Json::parse(R"({"$defs":{"Base":{"type":"object","properties":{"x":{},
      "extra":true}}},"allOf":[{"$ref":"#/$defs/Base"},{"properties":{"y":{"type":"integer"}}}]})"));
  EXPECT_NO_THROW(merged->grammar());
  // Both dependencies on one property are kept.
  TypePtr deps = types.make("D", Json::parse(R"({"type":"object","properties":{"a":{},"b":{},"c":{}},
      "dependentRequired":{"a":["b"]},"dependentSchemas":{"a":{"properties":{"c":{}},"required":["c"]}}})"));
  EXPECT_NE(deps->why_invalid(Json::parse(R"({"a":1,"c":1})")), "");
  EXPECT_NE(deps->why_invalid(Json::parse(R"({"a":1,"b":1})")), "");
  EXPECT_EQ(deps->why_invalid(Json::parse(R"({"a":1,"b":1,"c":1})")), "");
  // A pattern the converter cannot build is left to the validator, so the lengths still hold.
  const Json loose = Json::parse(R"({"type":"string","pattern":"[a-z]+","maxLength":4})");
  EXPECT_FALSE(grammar_schema(loose).contains("pattern"));
  EXPECT_EQ(keyword_report(loose).enforced, (std::set<std::string>{"type", "maxLength"}));
  // Keywords beside a $ref are refused: draft 7 (and the grammar) would ignore them.
  const std::string msg = error_of([] {
    TypeSet().add("T", Json::parse(R"({"properties":{"p":{"$ref":"#/$defs/X","minLength":2}},"$defs":{"X":{}}})"));
  });
  EXPECT_NE(msg.find("`minLength` beside `$ref` would be ignored"), std::string::npos) << msg;
}

TEST(SchemaTest, ATypeWithItsOwnDefinitionsKeepsThemWhenAnotherTypeRefersToIt) {
  TypeSet types;
  types.add("Shape", Json::parse(R"({"definitions":{"P":{"type":"object","properties":{"x":{"type":"integer"}},
      "required":["x"]}},"type":"object","properties":{"at":{"$ref":"#/definitions/P"}},"required":["at"]})"));
  TypePtr list = types.make("L", Json::parse(R"({"type":"array","items":{"$ref":"Shape"}})"));
  EXPECT_EQ(list->why_invalid(Json::parse(R"([{"at": {"x": 1}}])")), "");
  EXPECT_NE(list->why_invalid(Json::parse(R"([{"at": {"x": "one"}}])")), "");
  EXPECT_NE(list->grammar().find("x"), std::string::npos);
  EXPECT_EQ(types.get("Shape")->why_invalid(Json::parse(R"({"at": {"x": 2}})")), "");
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

// Whitespace between JSON tokens is bounded by the grammar itself (one space, or up to two newlines
// and 20 indentation characters), so a model cannot spend max_tokens on whitespace.
TEST(SchemaTest, TheGrammarBoundsWhitespaceBetweenTokens) {
  TypePtr t = TypeSet().make(
      "T", Json::parse(R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"string"}}}})"));
  const std::string& g = t->grammar();
  const size_t at = g.find("\nspace ::= ");
  ASSERT_NE(at, std::string::npos) << g;
  const std::string rule = g.substr(at + 1, g.find('\n', at + 1) - at - 1);
  EXPECT_EQ(rule, R"(space ::= | " " | "\n"{1,2} [ \t]{0,20})");
  for (const char* unbounded : {"space*", "space+", "ws*", R"([ \t\n]*)"})
    EXPECT_EQ(g.find(unbounded), std::string::npos) << unbounded << " in\n" << g;
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
