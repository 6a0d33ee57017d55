// Templates on llama.cpp's Jinja engine, made strict: an undefined value that reaches the output
// is an error (Jinja's StrictUndefined), so a typo in a field name cannot silently become "".
#include "skein/template.hpp"

#include <jinja/lexer.h>
#include <jinja/parser.h>
#include <jinja/runtime.h>
#include <json.h>

#include <set>

namespace skein {
namespace {

std::string keys_of(const Json& vars) {
  std::string out;
  for (auto& [k, v] : vars.items()) out += (out.empty() ? "" : ", ") + k;
  return out.empty() ? "(none)" : out;
}

const std::set<std::string> kNotVariables = {
    "for", "in", "endfor", "if", "elif", "else", "endif", "set", "endset", "macro", "endmacro", "call",
    "endcall", "filter", "endfilter", "not", "and", "or", "is", "true", "false", "none", "True", "False",
    "None", "loop", "range", "namespace", "raise_exception", "recursive", "break", "continue", "with",
    "endwith", "dict", "strftime_now", "caller", "generation", "endgeneration"};

// Names the template reads from its variables: identifiers that are not attributes, filters, tests,
// keyword arguments, names bound in the template (for/set/macro) or guarded by `is defined` or
// `default`. A scan of the tokens, so it also sees names inside loops and branches.
std::set<std::string> free_names(const std::vector<jinja::token>& tokens) {
  using T = jinja::token;
  std::set<std::string> bound, guarded, used;
  auto is_ident = [&](size_t i, const char* v) { return i < tokens.size() && tokens[i].t == T::identifier && tokens[i].value == v; };
  for (size_t i = 0; i < tokens.size(); ++i) {
    const T& tok = tokens[i];
    if (tok.t != T::identifier) continue;
    const T::type prev = i > 0 ? tokens[i - 1].t : T::eof;
    const std::string prev_value = i > 0 ? tokens[i - 1].value : "";
    if (tok.value == "for" || tok.value == "set" || tok.value == "macro") {
      for (size_t k = i + 1; k < tokens.size() && !is_ident(k, "in") && tokens[k].t != T::equals &&
                             tokens[k].t != T::close_statement;
           ++k)
        if (tokens[k].t == T::identifier) bound.insert(tokens[k].value);
      if (tok.value == "macro")
        for (size_t k = i + 1; k < tokens.size() && tokens[k].t != T::close_statement; ++k)
          if (tokens[k].t == T::identifier) bound.insert(tokens[k].value);
      continue;
    }
    if (prev == T::dot || prev == T::pipe || prev_value == "is" || (prev_value == "not" && i > 1 && tokens[i - 2].value == "is"))
      continue;
    if (i + 1 < tokens.size() && tokens[i + 1].t == T::equals) continue;
    if (is_ident(i + 1, "is") && (is_ident(i + 2, "defined") || is_ident(i + 2, "undefined") || is_ident(i + 3, "defined")))
      guarded.insert(tok.value);
    if (i + 2 < tokens.size() && tokens[i + 1].t == T::pipe && tokens[i + 2].value == "default") guarded.insert(tok.value);
    used.insert(tok.value);
  }
  std::set<std::string> out;
  for (const auto& name : used)
    if (!bound.count(name) && !guarded.count(name) && !kNotVariables.count(name)) out.insert(name);
  return out;
}

// Finds an undefined value among the rendered statement results (nested for loops give arrays).
const jinja::value_undefined_t* find_undefined(const jinja::value& v) {
  if (auto u = std::dynamic_pointer_cast<jinja::value_undefined_t>(v)) return u.get();
  if (jinja::is_val<jinja::value_array>(v))
    for (const auto& item : v->as_array())
      if (auto found = find_undefined(item)) return found;
  return nullptr;
}

}  // namespace

struct Template::Impl {
  std::string source;
  std::string where;
  jinja::program program;
  std::set<std::string> names;  // free variables the template reads

  [[noreturn]] void fail(const std::string& why, const Json* vars) const {
    std::string msg = (where.empty() ? "" : where + ": ") + "template error: " + why + "\n  template: " + source;
    if (vars) msg += "\n  available: " + keys_of(*vars);
    throw TemplateError(msg);
  }
};

Template::Template(std::string source, std::string where) : impl_(std::make_unique<Impl>()) {
  impl_->source = std::move(source);
  impl_->where = std::move(where);
  try {
    jinja::lexer lexer;
    const jinja::lexer_result tokens = lexer.tokenize(impl_->source);
    impl_->names = free_names(tokens.tokens);
    impl_->program = jinja::parse_from_tokens(tokens);
  } catch (const std::exception& e) {
    impl_->fail(e.what(), nullptr);
  }
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

const std::string& Template::source() const { return impl_->source; }

std::string Template::render(const Json& vars) const {
  for (const auto& name : impl_->names)
    if (!vars.is_object() || !vars.contains(name)) impl_->fail("undefined name '" + name + "'", &vars);
  jinja::context ctx(impl_->source);
  jinja::value results;
  try {
    jinja::global_from_json(ctx, common_json::parse(vars.dump()), false);
    jinja::runtime runtime(ctx);
    results = runtime.execute(impl_->program);
  } catch (const std::exception& e) {
    impl_->fail(e.what(), &vars);
  }
  if (auto undefined = find_undefined(results))
    impl_->fail("undefined value " + undefined->type(), &vars);
  return jinja::render_string_parts(jinja::runtime::gather_string_parts(results));
}

}  // namespace skein
