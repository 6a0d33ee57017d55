// JSON Schema -> GBNF. llama.cpp's converter does the work; Skein adds what it lacks: `number`s with
// both `minimum` and `maximum` are constrained too (integer part in range, then a fraction), so a
// generated value cannot run far out of bounds. Validation after generation still decides.
#pragma once
#include <string>

#include "skein/json.hpp"

namespace skein {

// Throws std::exception when the converter refuses the schema.
std::string schema_to_grammar(const Json& schema);

}  // namespace skein
