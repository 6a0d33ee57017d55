// The form in which an OpenAI-compatible server gets an output type (`response_format:
// json_schema`). OpenAI's strict mode holds the reply to the schema, but only to a schema whose
// objects are all closed (`additionalProperties: false`) with every property required, written
// with the keywords it supports. So a type is sent:
//   - strict as written, when it already is such a schema;
//   - strict converted, when its only obstacle is optional properties: each becomes required and
//     nullable (anyOf with null), and the nulls are dropped from the reply before it is validated;
//   - non-strict otherwise (the reason says why): the server may hold to it or not, and the reply
//     is validated (and retried, told why) as with every backend.
#pragma once
#include <string>

#include "skein/json.hpp"

namespace skein {

struct OpenAISchema {
  Json schema;  // what goes in json_schema.schema
  bool strict = false;
  bool converted = false;      // optional properties made required and nullable
  std::string why_not_strict;  // when !strict
};

OpenAISchema openai_schema(const Json& schema);

// A reply to a converted schema with the nulls the conversion allowed dropped: a null value of a
// property that `schema` (the type's own) leaves optional.
Json drop_added_nulls(Json value, const Json& schema);

// One line for `skein inspect`: "strict", "strict (optional properties sent as required and
// nullable)" or "non-strict: <why>".
std::string openai_mode(const OpenAISchema& form);

}  // namespace skein
