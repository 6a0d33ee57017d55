// A compiled type: valijson's schema for validation and llama.cpp's GBNF for constraint, each from
// the form of the schema it handles (keyword_plan.hpp).
#include <mutex>
// valijson reports a schema it cannot read by throwing, not by abort() (its default).
#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "grammar.hpp"
#include "keyword_plan.hpp"
#include "quick_check.hpp"
#include "skein/schema.hpp"

namespace skein {

struct Type::Compiled {
  QuickCheck quick;         // empty: every value goes to valijson
  nlohmann::json document;  // valijson reads the schema in place: keep it alive
  valijson::Schema schema;
  std::once_flag grammar_once;
  std::string grammar;
};

Type::Type(std::string name, Json schema)
    : name_(std::move(name)),
      schema_(std::move(schema)),
      instruction_("Reply with one JSON value, and nothing else, that matches this JSON Schema:\n" + schema_.dump()),
      compiled_(std::make_unique<Compiled>()) {
  compiled_->quick = quick_check(schema_);
  compiled_->document = validation_schema(schema_);  // draft 7, as valijson reads it
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter adapter(compiled_->document);
  try {
    parser.populateSchema(adapter, compiled_->schema);
  } catch (const std::exception& e) {
    throw ConfigError({}, "type '" + name_ + "': " + e.what());
  }
}

Type::~Type() = default;

std::string Type::why_invalid(const Json& value) const {
  std::string reason;
  for (const auto& e : validate(value)) reason += (reason.empty() ? "" : "; ") + e;
  return reason;
}

std::vector<std::string> Type::validate(const Json& value) const {
  if (compiled_->quick && compiled_->quick(value)) return {};
  const nlohmann::json doc = value;
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  std::vector<std::string> errors;
  if (validator.validate(compiled_->schema, adapter, &results)) return errors;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string where;
    for (const auto& c : error.context) where += c == "<root>" ? "" : c;
    errors.push_back((where.empty() ? "/" : where) + ": " + error.description);
  }
  return errors;
}

const std::string& Type::grammar() const {
  std::call_once(compiled_->grammar_once, [this] {
    try {
      compiled_->grammar = schema_to_grammar(grammar_schema(schema_));
    } catch (const std::exception& e) {
      throw ConfigError({}, "type '" + name_ + "' cannot be turned into a grammar: " + e.what());
    }
  });
  return compiled_->grammar;
}

}  // namespace skein
