// JSON text to Json, fast: simdjson reads the text, and the Json is built from what it found.
// The hot parses go through here (a chain's input lines, an engine's replies).
//
// Contract: the same as Json::parse(text), value for value and error for error. Text simdjson
// refuses (bad JSON, an integer beyond 64 bits, 1,024 levels of nesting or more, a byte order
// mark) is parsed again by Json::parse, so what is thrown (Json::parse_error, Json::out_of_range) and its
// message are Json::parse's own. One difference in type, none in value or in dump(): a
// non-negative integer is number_unsigned, as Json::parse makes it, and so is `-0` (Json::parse
// makes it number_integer 0).
//
// Memory: each thread keeps its own simdjson parser, sized to about 15 times the longest text it
// has read; a text over 1 MiB goes to Json::parse, so that is at most about 16 MiB per thread.
// Thread safety: any thread. Allocates the Json it returns.
#pragma once
#include <string_view>

#include "skein/json.hpp"

namespace skein {

Json parse_json(std::string_view text);

}  // namespace skein
