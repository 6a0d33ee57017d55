// Expressions over a record's history, in Jinja syntax (`verdict.confidence >= 0.5`,
// `chain_input.review | length`): the language of Apply's `where`, `set` and `field`.
//
// Compiled once. The common ones (names and fields, comparisons, and/or/not, arithmetic, `in`,
// length/upper/lower) are evaluated on the JSON itself, without the Jinja runtime and with the
// same results; the rest, and every error, go through the Jinja engine. Immutable: safe to
// evaluate from several threads at once.
#pragma once
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "skein/template.hpp"

namespace skein {

class NativeExpression;

class Expression {
 public:
  // Throws TemplateError on bad syntax.
  explicit Expression(const std::string& source, const std::string& where = "");

  Json value(const Json& vars) const;   // the value, as JSON; TemplateError on undefined names
  bool truthy(const Json& vars) const;  // Jinja truthiness
  const std::set<std::string>& names() const { return value_.names(); }
  const std::vector<std::vector<std::string>>& paths() const { return value_.paths(); }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  Template value_, test_;
  std::optional<std::vector<std::string>> path_;    // set for a plain `a.b.c`, looked up without Jinja
  std::shared_ptr<const NativeExpression> native_;  // set when it is in the subset evaluated natively
};

}  // namespace skein
