#include "skein/expression.hpp"

#include <regex>

#include "native_expression.hpp"

namespace skein {

namespace {

// `a.b.c` as its names, or nothing for any other expression.
std::optional<std::vector<std::string>> dotted_path(const std::string& source) {
  static const std::regex path(R"(\s*[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\s*)");
  if (!std::regex_match(source, path)) return std::nullopt;
  std::vector<std::string> names;
  std::string name;
  for (char c : source)
    if (c == '.') {
      names.push_back(std::move(name));
      name.clear();
    } else if (!std::isspace(static_cast<unsigned char>(c))) {
      name += c;
    }
  names.push_back(std::move(name));
  return names;
}

}  // namespace

Expression::Expression(const std::string& source, const std::string& where)
    : source_(source),
      value_("{{ (" + source + ") | tojson }}", where),
      test_("{% if " + source + " %}1{% endif %}", where),
      path_(dotted_path(source)),
      native_(NativeExpression::compile(source)) {}

Json Expression::value(const Json& vars) const {
  if (path_) {  // a plain field path: looked up directly; anything missing goes the Jinja way for its error
    const Json* v = &vars;
    for (const auto& name : *path_) {
      const auto at = v->is_object() ? v->find(name) : v->end();
      if (at == v->end()) {
        v = nullptr;
        break;
      }
      v = &*at;
    }
    if (v) return *v;
  }
  if (native_)
    if (std::optional<Json> v = native_->value(vars)) return std::move(*v);
  const std::string text = value_.render(vars);
  try {
    return Json::parse(text);
  } catch (const Json::exception&) {
    throw TemplateError("expression `" + source_ + "` gave no JSON value: " + text, "expression error");
  }
}

bool Expression::truthy(const Json& vars) const {
  if (native_)
    if (std::optional<bool> t = native_->truthy(vars)) return *t;
  return test_.render(vars) == "1";
}

}  // namespace skein
