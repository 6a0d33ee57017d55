// JSON Schema -> GBNF. llama.cpp's converter does the work; Skein adds what it lacks: `number`s with
// both `minimum` and `maximum` are constrained too (integer part in range, then a fraction), so a
// generated value cannot run far out of bounds. Validation after generation still decides.
#pragma once
#include <string>

#include "skein/json.hpp"

namespace skein {

// Throws std::exception when the converter refuses the schema.
std::string schema_to_grammar(const Json& schema);

// Whether the converter builds `pattern` into a grammar (it takes any string for a pattern it
// cannot: not anchored with ^…$, or using what its regex subset lacks). Thread-safe.
bool pattern_to_grammar_ok(const std::string& pattern);

}  // namespace skein
