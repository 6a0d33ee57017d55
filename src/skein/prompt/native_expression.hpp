// The common expressions of Apply and graph conditions (`tag != "b"`, `verdict.score >= 0.5 and
// not flagged`, `chain_input.text | upper`, `kind in ["a", "b"]`) evaluated straight on the
// history's JSON. The Jinja runtime costs a dump and a parse of the whole history per call; this
// costs the lookups.
//
// Exactly the Jinja engine's results, or none: the subset is names and fields, literals, `==`
// `!=` `<` `<=` `>` `>=`, `and` `or` `not`, `+` `-` `*` `/` `%` on numbers, `+` `~` on two strings,
// `in`, and the filters length, count, upper and lower. Anything else, and any value on which the
// engine's rules are quirky (a null, a float in a result, a number beyond 2^53, an object's
// built-in name), declines: the caller goes the Jinja way, which also says the errors (a missing
// name, a type that does not fit). tests/unit/native_expression_test.cpp holds both sides equal.
// One exception, as for the plain field paths Expression looks up itself: a history holding text
// that is not UTF-8 (only C++ code can put it there: every parsed input is checked) makes every
// expression a Jinja error, and here only the expressions that read that text.
//
// Immutable once compiled: safe to use from several threads at once.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "skein/json.hpp"

namespace skein {

class NativeExpression {
 public:
  struct Node;
  // Compiles the expression `source`; nullptr when it uses anything outside the subset (or does
  // not parse: the Jinja way says why).
  static std::shared_ptr<const NativeExpression> compile(const std::string& source);
  explicit NativeExpression(std::unique_ptr<Node> root);
  ~NativeExpression();

  // The value as JSON (a bool, an integer or a string), or nullopt: go the Jinja way.
  std::optional<Json> value(const Json& vars) const;
  // Jinja's truthiness of the value, or nullopt: go the Jinja way.
  std::optional<bool> truthy(const Json& vars) const;

 private:
  std::unique_ptr<Node> root_;
};

}  // namespace skein
