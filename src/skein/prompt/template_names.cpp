#include "template_names.hpp"

namespace skein {
namespace {

using T = jinja::token;

const std::set<std::string> kNotVariables = {"for",
                                             "in",
                                             "endfor",
                                             "if",
                                             "elif",
                                             "else",
                                             "endif",
                                             "set",
                                             "endset",
                                             "macro",
                                             "endmacro",
                                             "call",
                                             "endcall",
                                             "filter",
                                             "endfilter",
                                             "not",
                                             "and",
                                             "or",
                                             "is",
                                             "true",
                                             "false",
                                             "none",
                                             "True",
                                             "False",
                                             "None",
                                             "loop",
                                             "range",
                                             "namespace",
                                             "raise_exception",
                                             "recursive",
                                             "break",
                                             "continue",
                                             "with",
                                             "endwith",
                                             "dict",
                                             "strftime_now",
                                             "caller",
                                             "generation",
                                             "endgeneration"};

class Scanner {
 public:
  explicit Scanner(const std::vector<T>& tokens) : t_(tokens) {}

  TemplateNames run() {
    for (size_t i = 0; i < t_.size(); ++i)
      if (t_[i].t == T::identifier) visit(i);
    TemplateNames out;
    for (const auto& name : used_)
      if (free(name)) out.names.insert(name);
    for (auto& path : paths_)
      if (free(path[0]) && path.size() > 1) out.paths.push_back(std::move(path));
    return out;
  }

 private:
  bool ident(size_t i, const char* v) const { return i < t_.size() && t_[i].t == T::identifier && t_[i].value == v; }
  bool type(size_t i, T::type ty) const { return i < t_.size() && t_[i].t == ty; }
  bool free(const std::string& n) const { return !bound_.count(n) && !guarded_.count(n) && !kNotVariables.count(n); }

  // for/set/macro: the names up to `in`, `=` or the end of the statement are bound.
  void bind(size_t i) {
    const bool macro = t_[i].value == "macro";
    for (size_t k = i + 1; k < t_.size() && !type(k, T::close_statement); ++k) {
      if (!macro && (ident(k, "in") || type(k, T::equals))) break;
      if (type(k, T::identifier)) bound_.insert(t_[k].value);
    }
  }

  void visit(size_t i) {
    const std::string& v = t_[i].value;
    if (v == "for" || v == "set" || v == "macro") return bind(i);
    if (i > 0 && (type(i - 1, T::dot) || type(i - 1, T::pipe) || ident(i - 1, "is"))) return;
    if (i > 1 && ident(i - 1, "not") && ident(i - 2, "is")) return;
    if (type(i + 1, T::equals)) return;  // keyword argument
    if (ident(i + 1, "is") && (ident(i + 2, "defined") || ident(i + 2, "undefined") || ident(i + 3, "defined")))
      guarded_.insert(v);
    if (type(i + 1, T::pipe) && ident(i + 2, "default")) guarded_.insert(v);
    used_.insert(v);
    paths_.push_back(path_from(i));
  }

  // name.field.field…, stopping before a method call or a subscript.
  std::vector<std::string> path_from(size_t i) const {
    std::vector<std::string> path{t_[i].value};
    for (size_t k = i + 1; type(k, T::dot) && type(k + 1, T::identifier); k += 2) {
      if (type(k + 2, T::open_paren) || type(k + 2, T::call_operator)) break;
      path.push_back(t_[k + 1].value);
    }
    return path;
  }

  const std::vector<T>& t_;
  std::set<std::string> bound_, guarded_, used_;
  std::vector<std::vector<std::string>> paths_;
};

}  // namespace

TemplateNames scan_names(const std::vector<jinja::token>& tokens) { return Scanner(tokens).run(); }

}  // namespace skein
