// How each JSON Schema keyword of a type holds its outputs (SPEC §1): enforced while generating
// (llama.cpp's converter builds it into the grammar) or validated after generation (valijson,
// draft 7; a refused output is retried, told why). check_schema refuses every other keyword, so
// nothing is silently ignored.
//
// The converter and the validator each get the schema in the form they handle:
//   - the grammar's: boolean subschemas as {} (true) or dropped properties (false); an `allOf` of
//     objects merged into one object, any other `allOf` left to validation; `prefixItems` with
//     `items` an exact tuple; keywords the converter would get wrong removed (they are validated);
//   - the validator's (draft 7): `prefixItems` as `items` + `additionalItems`, `dependentRequired`
//     and `dependentSchemas` as `dependencies`, `format: uuid` as its pattern.
#pragma once
#include <set>
#include <string>

#include "skein/json.hpp"
#include "skein/schema.hpp"

namespace skein {

// Keywords that say nothing about valid values (description, default…), and those that only hold
// named subschemas ($defs, definitions).
bool is_annotation(const std::string& keyword);

// REQUIRES: `schema` passed check_schema.
Json grammar_schema(const Json& schema);
Json validation_schema(const Json& schema);

// keyword_report: skein/schema.hpp.

// Formats both sides handle: the converter enforces them, the validator checks them.
inline const std::set<std::string>& known_formats() {
  static const std::set<std::string> formats = {"date", "time", "date-time", "uuid"};
  return formats;
}

}  // namespace skein
