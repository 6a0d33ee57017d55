// Templates on llama.cpp's Jinja engine, made strict: an undefined value that reaches the output
// is an error (Jinja's StrictUndefined), so a typo in a field name cannot silently become "".
#include "skein/template.hpp"

#include <jinja/lexer.h>
#include <jinja/parser.h>
#include <jinja/runtime.h>
#include <json.h>

#include <optional>
#include <regex>
#include <sstream>

#include "template_names.hpp"

namespace skein {
namespace {

std::string keys_of(const Json& vars) {
  std::string out;
  for (auto& [k, v] : vars.items()) out += (out.empty() ? "" : ", ") + k;
  return out.empty() ? "(none)" : out;
}

// Finds an undefined value among the rendered statement results (nested for loops give arrays).
const jinja::value_undefined_t* find_undefined(const jinja::value& v) {
  // A hint names what was looked up; statements such as `set` yield an undefined without one.
  if (auto u = std::dynamic_pointer_cast<jinja::value_undefined_t>(v)) return u->hint.empty() ? nullptr : u.get();
  if (jinja::is_val<jinja::value_array>(v))
    for (const auto& item : v->as_array())
      if (auto found = find_undefined(item)) return found;
  return nullptr;
}

// A template that is only text and `{{ name.field… }}` substitutions renders without the Jinja
// runtime (most prompt templates are like this; the runtime costs tens of microseconds per render).
// Values other than strings, integers and booleans, and anything unusual, go the Jinja way.
struct Substitutions {
  std::vector<std::string> texts;               // texts[i] precedes paths[i]; one more text than paths
  std::vector<std::vector<std::string>> paths;  // dotted names

  static std::optional<Substitutions> of(std::string source) {
    static const std::regex expr(R"(\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\})");
    if (!source.empty() && source.back() == '\n') source.pop_back();  // Jinja drops one trailing newline
    Substitutions s;
    size_t at = 0;
    for (auto it = std::sregex_iterator(source.begin(), source.end(), expr); it != std::sregex_iterator(); ++it) {
      s.texts.push_back(source.substr(at, size_t(it->position()) - at));
      std::vector<std::string> path;
      std::stringstream names((*it)[1].str());
      for (std::string part; std::getline(names, part, '.');) path.push_back(part);
      s.paths.push_back(std::move(path));
      at = size_t(it->position() + it->length());
    }
    s.texts.push_back(source.substr(at));
    for (const auto& t : s.texts)
      if (t.find("{{") != std::string::npos || t.find("{%") != std::string::npos || t.find("{#") != std::string::npos ||
          t.find("}}") != std::string::npos)
        return std::nullopt;
    return s;
  }

  // The text, or nothing when a value is missing or not plainly printable.
  std::optional<std::string> render(const Json& vars) const {
    std::string out = texts[0];
    for (size_t i = 0; i < paths.size(); ++i) {
      const Json* v = &vars;
      for (const auto& name : paths[i]) {
        if (!v->is_object()) return std::nullopt;
        auto it = v->find(name);
        if (it == v->end()) return std::nullopt;
        v = &*it;
      }
      if (v->is_string())
        out += v->get_ref<const std::string&>();
      else if (v->is_number_unsigned())
        out += std::to_string(v->get<uint64_t>());
      else if (v->is_number_integer())
        out += std::to_string(v->get<int64_t>());
      else if (v->is_boolean())
        out += v->get<bool>() ? "True" : "False";
      else
        return std::nullopt;
      out += texts[i + 1];
    }
    return out;
  }
};

}  // namespace

struct Template::Impl {
  std::string source;
  std::string where;
  jinja::program program;
  TemplateNames reads;  // free names and field paths the template reads
  std::optional<Substitutions> simple;

  // Every free name must be a variable, every field path must exist as far as it runs through
  // objects (a path into a string or list is left to the engine).
  void check_reads(const Json& vars) const {
    for (const auto& name : reads.names)
      if (!vars.is_object() || !vars.contains(name)) fail("undefined name '" + name + "'", &vars);
    for (const auto& path : reads.paths) {
      const Json* v = &vars.at(path[0]);
      for (size_t i = 1; i < path.size() && v->is_object(); ++i) {
        const auto it = v->find(path[i]);
        if (it == v->end()) fail("undefined field '" + dotted(path, i) + "'", &vars);
        v = &*it;
      }
    }
  }

  // "a.b.c": the path's names up to and including path[last].
  static std::string dotted(const std::vector<std::string>& path, size_t last) {
    std::string out = path[0];
    for (size_t i = 1; i <= last; ++i) out += "." + path[i];
    return out;
  }

  [[noreturn]] void fail(const std::string& why, const Json* vars) const {
    std::string detail = "template error: " + why + "\n  template: " + source;
    if (vars) detail += "\n  available: " + keys_of(*vars);
    throw TemplateError(where.empty() ? detail : where + ": " + detail, detail);
  }
};

Template::Template(std::string source, std::string where) : impl_(std::make_unique<Impl>()) {
  impl_->source = std::move(source);
  impl_->where = std::move(where);
  try {
    jinja::lexer lexer;
    const jinja::lexer_result tokens = lexer.tokenize(impl_->source);
    impl_->reads = scan_names(tokens.tokens);
    impl_->program = jinja::parse_from_tokens(tokens);
    impl_->simple = Substitutions::of(impl_->source);
  } catch (const std::exception& e) {
    impl_->fail(e.what(), nullptr);
  }
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

const std::string& Template::source() const { return impl_->source; }

const std::set<std::string>& Template::names() const { return impl_->reads.names; }

const std::vector<std::vector<std::string>>& Template::paths() const { return impl_->reads.paths; }

std::string Template::render(const Json& vars) const {
  impl_->check_reads(vars);
  if (impl_->simple)
    if (std::optional<std::string> text = impl_->simple->render(vars)) return std::move(*text);
  jinja::context ctx(impl_->source);
  jinja::value results;
  try {
    jinja::global_from_json(ctx, common_json::parse(vars.dump()), false);
    jinja::runtime runtime(ctx);
    results = runtime.execute(impl_->program);
  } catch (const std::exception& e) {
    impl_->fail(e.what(), &vars);
  }
  if (auto undefined = find_undefined(results)) impl_->fail("undefined value " + undefined->type(), &vars);
  return jinja::render_string_parts(jinja::runtime::gather_string_parts(results));
}

}  // namespace skein
