// A check that a value surely fits a schema, without valijson, for the forms most outputs take:
// `type` (one name), `properties`, `required`, `additionalProperties` (a boolean), `items` (one
// schema), `enum` of strings, the annotations `title` and `description`, and `$defs` (which no
// `$ref` of these forms can use). A value it accepts,
// valijson accepts; anything it does not accept (and every schema with another keyword) goes to
// valijson, which alone gives the reasons.
//
// Thread-safe once compiled: a QuickCheck is immutable.
#pragma once
#include <functional>

#include "skein/json.hpp"

namespace skein {

using QuickCheck = std::function<bool(const Json&)>;

// The check of `schema`, or an empty function when the schema has a form the check does not know.
QuickCheck quick_check(const Json& schema);

}  // namespace skein
