// Record types: a subset of JSON Schema (draft 2020-12) with `$ref` to named types.
//
// Supported keywords: type (incl. [x, "null"]), properties, required, additionalProperties,
// items, enum, const, minItems, maxItems, minimum, maximum, minLength, maxLength, pattern, anyOf,
// $ref, description, default, title. Any other keyword is refused with a ConfigError naming it.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "skein/error.hpp"
#include "skein/json.hpp"

namespace skein {

class Type;
using TypePtr = std::shared_ptr<const Type>;

// An immutable, self-contained type: `$ref`s to named types are rewritten to `#/$defs/<Name>` and
// the referenced types copied under `$defs`. Thread-safe.
class Type {
 public:
  // REQUIRES: `schema` passed check_schema and holds no `$ref` to a type it does not define.
  Type(std::string name, Json schema);
  ~Type();

  const std::string& name() const { return name_; }
  const Json& schema() const { return schema_; }

  // Validation errors of `value` (JSON pointer: message); empty when valid.
  std::vector<std::string> validate(const Json& value) const;
  // The same errors in one line ("; " between them); empty when `value` is valid.
  std::string why_invalid(const Json& value) const;

  // GBNF grammar that constrains generation to this type (llama.cpp's converter), built once.
  const std::string& grammar() const;

  // One line for the system prompt telling the model which JSON to produce.
  const std::string& instruction() const { return instruction_; }

 private:
  struct Compiled;
  std::string name_;
  Json schema_;
  std::string instruction_;
  std::unique_ptr<Compiled> compiled_;
};

// Named types of one file (or one API user). Add every type, then ask for them.
class TypeSet {
 public:
  // Checks the keywords of `schema`; `where` is used in errors and `lines` maps JSON pointers
  // inside `schema` to source lines (optional).
  void add(const std::string& name, Json schema, Location where = {}, std::map<std::string, int> lines = {});
  bool contains(const std::string& name) const { return types_.count(name) != 0; }

  // A self-contained Type for a named type. Throws ConfigError for an unknown name or a `$ref`
  // to one.
  TypePtr get(const std::string& name, const Location& where = {}) const;

  // A Type for an inline schema that may `$ref` the named types.
  TypePtr make(const std::string& name, Json schema, Location where = {},
               const std::map<std::string, int>& lines = {}) const;

  std::vector<std::string> names() const;

 private:
  struct Entry {
    Json schema;
    Location where;
  };
  void collect_refs(const Json& schema, const Location& where, Json& defs) const;
  std::map<std::string, Entry> types_;
};

// Throws ConfigError naming the first unsupported keyword or malformed value, with the line of
// the offending key when `lines` knows it.
void check_schema(const Json& schema, const Location& where, const std::map<std::string, int>& lines = {},
                  const std::string& pointer = "");

// The keywords `schema` uses (annotations aside), as enforced by the grammar while generating or
// validated after; a keyword enforced in one place and only validated in another is in both.
// REQUIRES: `schema` passed the type checks (a Type's schema()).
struct KeywordReport {
  std::set<std::string> enforced, validated;
};
KeywordReport keyword_report(const Json& schema);

}  // namespace skein
