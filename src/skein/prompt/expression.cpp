#include "skein/expression.hpp"

namespace skein {

Expression::Expression(const std::string& source, const std::string& where)
    : source_(source),
      value_("{{ (" + source + ") | tojson }}", where),
      test_("{% if " + source + " %}1{% endif %}", where) {}

Json Expression::value(const Json& vars) const {
  const std::string text = value_.render(vars);
  try {
    return Json::parse(text);
  } catch (const Json::parse_error&) {
    throw TemplateError("expression `" + source_ + "` gave no JSON value: " + text, "expression error");
  }
}

bool Expression::truthy(const Json& vars) const { return test_.render(vars) == "1"; }

}  // namespace skein
