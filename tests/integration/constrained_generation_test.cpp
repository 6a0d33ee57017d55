// Every output generated under a type's grammar is valid for that type (checked by valijson), for
// 45 schemas covering every keyword the grammar enforces and several seeds each; keywords only
// validated after generation are retried until valid or refused with the validator's reason. The
// `local` fixture model has random weights: the values are meaningless, their shape is what is
// pinned.
#include <gtest/gtest.h>

#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "engine/typed_generation.hpp"
#include "fixture.hpp"
#include "skein/engine.hpp"

namespace skein {
namespace {

const char* kNamedTypes = R"({
  "Item": {"type": "object", "properties": {"sku": {"type": "string", "maxLength": 6},
           "qty": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["sku", "qty"]},
  "Address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string",
              "pattern": "^[0-9]{5}$"}}, "required": ["city", "zip"]},
  "Person": {"type": "object", "properties": {"name": {"type": "string"}, "home": {"$ref": "Address"}},
             "required": ["name", "home"]},
  "Node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array",
           "items": {"$ref": "Node"}, "maxItems": 2}}, "required": ["v", "kids"]},
  "Shape": {"definitions": {"P": {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0,
            "maximum": 9}}, "required": ["x"]}}, "type": "object", "properties": {"at": {"$ref": "#/definitions/P"}},
            "required": ["at"]}
})";

const std::vector<std::string> kSchemas = {
    R"({"type": "string"})",
    R"({"type": "integer"})",
    R"({"type": "number"})",
    R"({"type": "boolean"})",
    R"({"type": "null"})",
    R"({"enum": ["red", "green", "blue"]})",
    R"({"const": "fixed"})",
    R"({"type": "integer", "minimum": 3, "maximum": 17})",
    R"({"type": "number", "minimum": 0, "maximum": 1})",
    R"({"type": "number", "minimum": -5, "maximum": 5})",
    R"({"type": "string", "minLength": 3, "maxLength": 8})",
    R"({"type": "string", "pattern": "^[a-z]{2,5}$"})",
    R"({"type": "string", "pattern": "^[0-9]{3}-[0-9]{4}$"})",
    R"({"type": "array", "items": {"type": "integer"}, "maxItems": 5})",
    R"({"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4})",
    R"({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0,
        "maximum": 150}}, "required": ["name", "age"]})",
    R"({"type": "object", "properties": {"user": {"type": "object", "properties": {"id": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}}, "required": ["id", "tags"]}},
        "required": ["user"]})",
    R"({"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
        "minItems": 1, "maxItems": 3})",
    R"({"anyOf": [{"type": "string"}, {"type": "integer"}]})",
    R"({"anyOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                  {"type": "object", "properties": {"b": {"type": "boolean"}}, "required": ["b"]}]})",
    R"({"type": ["string", "null"]})",
    R"({"type": ["integer", "null"], "minimum": -3, "maximum": 3})",
    R"({"type": "object", "properties": {"opt1": {"type": "string"}, "opt2": {"type": "integer"}}})",
    R"({"type": "object", "properties": {"kind": {"const": "event"}, "level": {"enum": ["low", "high"]}},
        "required": ["kind", "level"]})",
    R"({"type": "array", "items": {"$ref": "Item"}, "minItems": 1, "maxItems": 3})",
    R"({"$ref": "Person"})",
    R"({"$ref": "Node"})",
    R"({"type": "object", "properties": {"ok": {"type": "boolean"}, "nothing": {"type": "null"}},
        "required": ["ok", "nothing"]})",
    R"({"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 3, "maxItems": 3})",
    R"({"type": "object", "title": "Doc", "description": "documented", "properties": {"n": {"type": "integer",
        "description": "a count", "default": 1}}, "required": ["n"]})",
    R"({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "object",
        "properties": {"c": {"type": "string", "maxLength": 4}}, "required": ["c"]}}, "required": ["b"]}},
        "required": ["a"]})",
    R"({"type": "integer", "minimum": 100})",
    R"({"type": "object", "properties": {"id": {"type": "integer"}, "label": {"type": "string"}},
        "required": ["id", "label"], "additionalProperties": false})",
    // Enforced since issue 14: allOf, oneOf, exclusive bounds, tuples, additionalProperties as a
    // schema, formats, boolean schemas, local references.
    R"({"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                  {"properties": {"b": {"type": "string", "maxLength": 5}}, "required": ["b"]}]})",
    R"({"$defs": {"Base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
        "allOf": [{"$ref": "#/$defs/Base"}, {"type": "object", "properties": {"tag": {"enum": ["x", "y"]}},
        "required": ["tag"]}]})",
    R"({"oneOf": [{"type": "string", "maxLength": 4}, {"type": "integer"}]})",
    R"({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10})",
    R"({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string", "maxLength": 4}]})",
    R"({"type": "array", "items": [{"type": "boolean"}, {"enum": ["a", "b"]}], "additionalItems": false})",
    R"({"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"],
        "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 9}})",
    R"({"type": "string", "format": "time"})",
    R"({"type": "string", "format": "uuid"})",
    R"({"type": "object", "properties": {"any": true, "never": false}, "required": ["any"]})",
    R"({"definitions": {"Pt": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
        "required": ["x", "y"]}}, "type": "array", "items": {"$ref": "#/definitions/Pt"}, "maxItems": 2})",
    R"({"type": "array", "items": {"$ref": "Shape"}, "minItems": 1, "maxItems": 2})",
};

// Keywords the grammar cannot hold: checked after generation, the reply retried with the reason.
// Dates too: the grammar holds their shape, not the calendar (it allows November 31).
const std::vector<std::string> kValidatedOnly = {
    R"({"type": "string", "format": "date"})",
    R"({"type": "string", "format": "date-time"})",
    R"({"type": "integer", "minimum": 0, "maximum": 20, "multipleOf": 5})",
    R"({"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3, "uniqueItems": true})",
    R"({"type": "string", "maxLength": 3, "not": {"const": "abc"}})",
    R"({"type": "object", "properties": {"k": {"enum": ["a", "b"]}, "v": {"type": "integer"}}, "required": ["k", "v"],
        "if": {"properties": {"k": {"const": "a"}}}, "then": {"properties": {"v": {"minimum": 0}}}})",
    R"({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 3}, "maxItems": 4,
        "contains": {"enum": [0, 1]}})",
    R"({"type": "object", "additionalProperties": {"type": "integer"}, "propertyNames": {"maxLength": 3},
        "maxProperties": 2})",
    R"({"type": "object", "patternProperties": {"^x": {"type": "integer"}}, "minProperties": 1})",
    R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "dependentRequired": {"a": ["b"]}})",
    R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "dependencies": {"b": ["a"]}})",
};

// Seeds per schema, and the stride of the same-seed check: fewer in sanitizer builds (several times
// slower), whose outputs are the regular build's (the same llama.cpp build draws them).
#ifdef SKEIN_SANITIZED
const std::vector<uint32_t> kSeeds = {1};
constexpr size_t kSameSeedStride = 16;
#else
const std::vector<uint32_t> kSeeds = {1, 2, 3};
constexpr size_t kSameSeedStride = 4;
#endif

class ConstrainedGenerationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine_ = make_llama_engine("local", test::local_options(8)).release();
    const Json named = Json::parse(kNamedTypes);
    for (auto& [name, schema] : named.items()) types_.add(name, schema);
  }
  static void TearDownTestSuite() { delete engine_; }

  static GenerateRequest request(const TypePtr& type, uint32_t seed) {
    GenerateRequest r;
    r.messages = {{"system", type->instruction()}, {"user", "Produce a value."}};
    r.output = type;
    r.sampling.seed = seed;
    r.sampling.max_tokens = 256;
    return r;
  }

  static Engine* engine_;
  static TypeSet types_;
};
Engine* ConstrainedGenerationTest::engine_ = nullptr;
TypeSet ConstrainedGenerationTest::types_;

TEST_F(ConstrainedGenerationTest, EveryOutputOfEverySchemaAndSeedValidates) {
  ASSERT_GE(kSchemas.size(), 30u);
  struct Case {
    size_t schema;
    uint32_t seed;
    TypePtr type;
    std::future<GenerateResult> result;
  };
  std::vector<Case> cases;
  for (size_t i = 0; i < kSchemas.size(); ++i) {
    TypePtr type = types_.make("S" + std::to_string(i), Json::parse(kSchemas[i]));
    for (uint32_t seed : kSeeds) {
      auto promise = std::make_shared<std::promise<GenerateResult>>();
      cases.push_back({i, seed, type, promise->get_future()});
      engine_->submit(request(type, seed), [promise](GenerateResult r) { promise->set_value(std::move(r)); });
    }
  }
  for (auto& c : cases) {
    GenerateResult r = c.result.get();
    SCOPED_TRACE("schema " + std::to_string(c.schema) + " " + kSchemas[c.schema] + " seed " + std::to_string(c.seed));
    ASSERT_EQ(r.finish, Finish::stop) << r.error << " text: " << r.text;
    Json value;
    ASSERT_NO_THROW(value = Json::parse(r.text)) << r.text;
    EXPECT_EQ(c.type->validate(value), std::vector<std::string>{}) << r.text;
  }
}

TEST_F(ConstrainedGenerationTest, ValidatedOnlyKeywordsAreRetriedUntilValidOrRefusedWithTheReason) {
  // Every schema and seed at once (the engine takes 8 at a time), each retrying on its own.
  const std::vector<uint32_t> seeds = {1, 2, 3};
  boost::asio::io_context io;
  std::vector<TypePtr> types;
  std::vector<std::future<TypedOutcome>> outcomes;
  for (size_t i = 0; i < kValidatedOnly.size(); ++i) {
    types.push_back(types_.make("V" + std::to_string(i), Json::parse(kValidatedOnly[i])));
    for (uint32_t seed : seeds)
      outcomes.push_back(
          boost::asio::co_spawn(io, generate_typed(*engine_, request(types.back(), seed), 6), boost::asio::use_future));
  }
  io.run();
  for (size_t i = 0; i < kValidatedOnly.size(); ++i) {
    int valid = 0;
    const Type& type = *types[i];
    for (size_t k = 0; k < seeds.size(); ++k) {
      SCOPED_TRACE(kValidatedOnly[i] + " seed " + std::to_string(seeds[k]));
      const TypedOutcome out = outcomes[i * seeds.size() + k].get();
      if (out.output) {
        EXPECT_EQ(type.why_invalid(*out.output), "");
        ++valid;
      } else {  // every attempt refused, the last one with the validator's reason
        EXPECT_EQ(out.attempts, 7);
        EXPECT_FALSE(out.reason.empty());
        Json value;
        EXPECT_EQ(why_invalid(type, out.raw, value), out.reason);
      }
    }
    EXPECT_GT(valid, 0) << kValidatedOnly[i] << ": the retries never reached a valid value";
  }
}

// Under the same conditions: the prefix cache holds the prompt for both (a request computed whole
// and one that reuses its prompt's cells differ in float rounding, which a sampler may feel).
TEST_F(ConstrainedGenerationTest, SameSeedGivesSameOutputForEverySchema) {
  for (size_t i = 0; i < kSchemas.size(); i += kSameSeedStride) {
    TypePtr type = types_.make("S", Json::parse(kSchemas[i]));
    generate_sync(*engine_, request(type, 10));  // the prompt into the cache
    GenerateResult a = generate_sync(*engine_, request(type, 11));
    GenerateResult b = generate_sync(*engine_, request(type, 11));
    ASSERT_TRUE(a.ok()) << a.error;
    EXPECT_EQ(a.text, b.text) << kSchemas[i];
  }
}

TEST_F(ConstrainedGenerationTest, DifferentSeedsExploreDifferentOutputs) {
  TypePtr type = types_.make("S", Json::parse(kSchemas[15]));
  std::set<std::string> seen;
  for (uint32_t seed = 1; seed <= 6; ++seed) seen.insert(generate_sync(*engine_, request(type, seed)).text);
  EXPECT_GT(seen.size(), 1u);
}

}  // namespace
}  // namespace skein
