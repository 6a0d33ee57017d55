// The expression's tree, compiled from the Jinja engine's syntax tree, and each operator as
// llama.cpp's common/jinja applies it (runtime.cpp's binary_expression, unary_expression,
// member_expression, apply_filter); the rules on values are native_values.cpp's.
#include "native_expression.hpp"

#include "native_values.hpp"

#include <jinja/lexer.h>
#include <jinja/parser.h>
#include <jinja/runtime.h>

#include <cmath>

namespace skein {

using namespace native;

struct NativeExpression::Node {
  virtual ~Node() = default;
  virtual Result eval(const Json& vars) const = 0;
};

namespace {

using NodePtr = std::unique_ptr<NativeExpression::Node>;

struct Literal final : NativeExpression::Node {
  Json value;
  explicit Literal(Json v) : value(std::move(v)) {}
  Result eval(const Json&) const override { return borrowed(value); }
};

// A name of the history; true/True/false/False when the history has no such key.
struct Name final : NativeExpression::Node {
  std::string name;
  explicit Name(std::string n) : name(std::move(n)) {}
  Result eval(const Json& vars) const override {
    if (!vars.is_object()) return std::nullopt;
    if (auto it = vars.find(name); it != vars.end()) return borrowed(*it);
    if (name == "true" || name == "True") return made(true);
    if (name == "false" || name == "False") return made(false);
    return std::nullopt;
  }
};

// `x.key` or `x["key"]` on an object.
struct Field final : NativeExpression::Node {
  NodePtr object;
  std::string key;
  Field(NodePtr o, std::string k) : object(std::move(o)), key(std::move(k)) {}
  Result eval(const Json& vars) const override {
    Result o = object->eval(vars);
    if (!o || !o->get().is_object()) return std::nullopt;
    const Json& j = o->get();
    auto it = j.find(key);
    if (it == j.end()) return std::nullopt;
    return part(*o, *it);
  }
};

// `x[3]`, `x[-1]` on a list.
struct Index final : NativeExpression::Node {
  NodePtr object;
  int64_t index;
  Index(NodePtr o, int64_t i) : object(std::move(o)), index(i) {}
  Result eval(const Json& vars) const override {
    Result o = object->eval(vars);
    if (!o || !o->get().is_array()) return std::nullopt;
    const Json& list = o->get();
    const int64_t i = index < 0 ? index + int64_t(list.size()) : index;
    if (i < 0 || i >= int64_t(list.size())) return std::nullopt;
    return part(*o, list[size_t(i)]);
  }
};

struct Not final : NativeExpression::Node {
  NodePtr operand;
  explicit Not(NodePtr o) : operand(std::move(o)) {}
  Result eval(const Json& vars) const override {
    Result v = operand->eval(vars);
    if (!v || !plain(v->get())) return std::nullopt;
    return made(!truthiness(v->get()));
  }
};

struct Negate final : NativeExpression::Node {
  NodePtr operand;
  explicit Negate(NodePtr o) : operand(std::move(o)) {}
  Result eval(const Json& vars) const override {
    Result v = operand->eval(vars);
    if (!v) return std::nullopt;
    const std::optional<Number> n = number(v->get(), false);
    if (!n) return std::nullopt;
    return n->is_float ? made(-n->f) : made(-n->i);
  }
};

// `and` / `or` give one of their operands, as Python's; both sides are evaluated here (a side the
// engine would skip only costs a lookup, and a declined one sends the whole to the engine).
struct Logic final : NativeExpression::Node {
  NodePtr left, right;
  bool is_and;
  Logic(NodePtr l, NodePtr r, bool a) : left(std::move(l)), right(std::move(r)), is_and(a) {}
  Result eval(const Json& vars) const override {
    Result l = left->eval(vars);
    if (!l || !plain(l->get())) return std::nullopt;
    Result r = right->eval(vars);
    if (!r || !plain(r->get())) return std::nullopt;
    return truthiness(l->get()) == is_and ? std::move(r) : std::move(l);
  }
};

enum class Op { eq, ne, lt, le, gt, ge, add, sub, mul, div, mod, concat, in, not_in };

struct Binary final : NativeExpression::Node {
  NodePtr left, right;
  Op op;
  Binary(NodePtr l, NodePtr r, Op o) : left(std::move(l)), right(std::move(r)), op(o) {}

  Result eval(const Json& vars) const override {
    Result l = left->eval(vars), r = right->eval(vars);
    if (!l || !r) return std::nullopt;
    const Json &a = l->get(), &b = r->get();
    if (!plain(a) || !plain(b)) return std::nullopt;  // the engine's none rules
    switch (op) {
      case Op::eq:
      case Op::ne: {
        const std::optional<bool> same = equivalent(a, b);
        if (!same) return std::nullopt;
        return made(op == Op::eq ? *same : !*same);
      }
      case Op::in:
      case Op::not_in: {
        const std::optional<bool> found = member(a, b);
        if (!found) return std::nullopt;
        return made(op == Op::in ? *found : !*found);
      }
      case Op::concat:
        return strings(a, b);
      case Op::add:
        if (a.is_string() && b.is_string()) return strings(a, b);
        return arithmetic(a, b);
      case Op::sub:
      case Op::mul:
      case Op::div:
      case Op::mod:
      case Op::lt:
      case Op::le:
      case Op::gt:
      case Op::ge:
        return arithmetic(a, b);
    }
    return std::nullopt;
  }

  static Result strings(const Json& a, const Json& b) {
    if (!a.is_string() || !b.is_string()) return std::nullopt;
    return made(a.get_ref<const std::string&>() + b.get_ref<const std::string&>());
  }

  // `needle in haystack`: a substring, a list's item, an object's key.
  static std::optional<bool> member(const Json& needle, const Json& haystack) {
    if (!(needle.is_string() || needle.is_number() || needle.is_boolean())) return std::nullopt;  // [1] in []: an error
    if (haystack.is_string()) {
      if (!needle.is_string()) return std::nullopt;
      return haystack.get_ref<const std::string&>().find(needle.get_ref<const std::string&>()) != std::string::npos;
    }
    if (haystack.is_array()) {
      for (const auto& item : haystack) {
        const std::optional<bool> same = equivalent(needle, item);
        if (!same) return std::nullopt;
        if (*same) return true;
      }
      return false;
    }
    if (haystack.is_object() && needle.is_string()) return haystack.contains(needle.get_ref<const std::string&>());
    return std::nullopt;
  }

  // Numbers (not booleans): computed in doubles; +, -, *, % give an integer when both are.
  Result arithmetic(const Json& a, const Json& b) const {
    const std::optional<Number> x = number(a, false), y = number(b, false);
    if (!x || !y) return std::nullopt;
    const bool is_float = x->is_float || y->is_float;
    const auto whole = [&](double v) -> Result {
      if (is_float) return made(v);
      if (!std::isfinite(v) || std::abs(v) >= kExact) return std::nullopt;
      return made(int64_t(v));
    };
    switch (op) {
      case Op::add:
        return whole(x->f + y->f);
      case Op::sub:
        return whole(x->f - y->f);
      case Op::mul:
        return whole(x->f * y->f);
      case Op::div:
        return made(x->f / y->f);
      case Op::mod:
        return whole(std::fmod(x->f, y->f));
      case Op::lt:
        return made(x->f < y->f);
      case Op::le:
        return made(x->f <= y->f);
      case Op::gt:
        return made(x->f > y->f);
      case Op::ge:
        return made(x->f >= y->f);
      case Op::eq:
      case Op::ne:
      case Op::concat:
      case Op::in:
      case Op::not_in:
        break;
    }
    return std::nullopt;
  }
};

enum class Filter { length, upper, lower };

struct Filtered final : NativeExpression::Node {
  NodePtr operand;
  Filter filter;
  Filtered(NodePtr o, Filter f) : operand(std::move(o)), filter(f) {}
  Result eval(const Json& vars) const override {
    Result v = operand->eval(vars);
    if (!v) return std::nullopt;
    const Json& j = v->get();
    if (filter == Filter::length) {
      if (j.is_string()) return made(int64_t(j.get_ref<const std::string&>().size()));  // bytes, as the engine
      if (j.is_array()) return made(int64_t(j.size()));
      return std::nullopt;
    }
    if (!j.is_string()) return std::nullopt;
    std::string s = j.get<std::string>();  // byte by byte, as the engine (in the C locale: ASCII only)
    const char from = filter == Filter::upper ? 'a' : 'A';
    const char flip = 'a' - 'A';  // toupper / tolower of the C locale, inlined
    for (char& c : s)
      if (c >= from && c <= from + 25) c = char(c ^ flip);
    return made(std::move(s));
  }
};

// ---- compiling the engine's syntax tree

NodePtr compile_node(const jinja::statement_ptr& s);

std::optional<Op> op_of(const std::string& token) {
  static const std::pair<const char*, Op> ops[] = {
      {"==", Op::eq}, {"!=", Op::ne},    {"<", Op::lt},  {"<=", Op::le},        {">", Op::gt},
      {">=", Op::ge}, {"+", Op::add},    {"-", Op::sub}, {"*", Op::mul},        {"/", Op::div},
      {"%", Op::mod}, {"~", Op::concat}, {"in", Op::in}, {"not in", Op::not_in}};
  for (const auto& [text, op] : ops)
    if (token == text) return op;
  return std::nullopt;
}

NodePtr compile_member(const jinja::member_expression& m) {
  NodePtr object = compile_node(m.object);
  if (!object) return nullptr;
  if (!m.computed) {
    if (const auto* id = jinja::cast_stmt<jinja::identifier>(m.property))
      // obj.items is an object's built-in, not its key (obj['items'] is the key): not compiled.
      return object_builtins().count(id->val) ? nullptr : std::make_unique<Field>(std::move(object), id->val);
    return nullptr;
  }
  if (const auto* key = jinja::cast_stmt<jinja::string_literal>(m.property))
    return std::make_unique<Field>(std::move(object), key->val);
  if (const auto* i = jinja::cast_stmt<jinja::integer_literal>(m.property))
    return std::make_unique<Index>(std::move(object), i->val);
  return nullptr;
}

NodePtr compile_filter(const jinja::filter_expression& f) {
  const auto* id = jinja::cast_stmt<jinja::identifier>(f.filter);
  if (!id) return nullptr;  // a filter with arguments
  std::optional<Filter> filter;
  if (id->val == "length" || id->val == "count") filter = Filter::length;
  if (id->val == "upper") filter = Filter::upper;
  if (id->val == "lower") filter = Filter::lower;
  NodePtr operand = filter ? compile_node(f.operand) : nullptr;
  return operand ? std::make_unique<Filtered>(std::move(operand), *filter) : nullptr;
}

NodePtr compile_binary(const jinja::binary_expression& b) {
  NodePtr left = compile_node(b.left), right = compile_node(b.right);
  if (!left || !right) return nullptr;
  if (b.op.value == "and" || b.op.value == "or")
    return std::make_unique<Logic>(std::move(left), std::move(right), b.op.value == "and");
  const std::optional<Op> op = op_of(b.op.value);
  return op ? std::make_unique<Binary>(std::move(left), std::move(right), *op) : nullptr;
}

NodePtr compile_unary(const jinja::unary_expression& u) {
  NodePtr operand = compile_node(u.argument);
  if (!operand) return nullptr;
  if (u.op.value == "not") return std::make_unique<Not>(std::move(operand));
  if (u.op.value == "-") return std::make_unique<Negate>(std::move(operand));
  return nullptr;
}

NodePtr compile_node(const jinja::statement_ptr& s) {
  if (const auto* id = jinja::cast_stmt<jinja::identifier>(s)) return std::make_unique<Name>(id->val);
  if (const auto* m = jinja::cast_stmt<jinja::member_expression>(s)) return compile_member(*m);
  if (const auto* b = jinja::cast_stmt<jinja::binary_expression>(s)) return compile_binary(*b);
  if (const auto* u = jinja::cast_stmt<jinja::unary_expression>(s)) return compile_unary(*u);
  if (const auto* f = jinja::cast_stmt<jinja::filter_expression>(s)) return compile_filter(*f);
  if (const auto* i = jinja::cast_stmt<jinja::integer_literal>(s))
    return exact(i->val) ? std::make_unique<Literal>(Json(i->val)) : nullptr;
  if (const auto* x = jinja::cast_stmt<jinja::float_literal>(s))
    return std::isfinite(x->val) && std::abs(x->val) < kExact ? std::make_unique<Literal>(Json(x->val)) : nullptr;
  if (const auto* t = jinja::cast_stmt<jinja::string_literal>(s)) return std::make_unique<Literal>(Json(t->val));
  if (const auto* a = jinja::cast_stmt<jinja::array_literal>(s)) {  // of literals only
    Json list = Json::array();
    for (const auto& item : a->val) {
      NodePtr n = compile_node(item);
      const auto* lit = dynamic_cast<const Literal*>(n.get());
      if (!lit) return nullptr;
      list.push_back(lit->value);
    }
    return std::make_unique<Literal>(std::move(list));
  }
  return nullptr;
}

}  // namespace

std::shared_ptr<const NativeExpression> NativeExpression::compile(const std::string& source) {
  try {
    jinja::lexer lexer;
    const jinja::program program = jinja::parse_from_tokens(lexer.tokenize("{{ " + source + " }}"));
    if (program.body.size() != 1) return nullptr;
    NodePtr root = compile_node(program.body[0]);
    return root ? std::make_shared<const NativeExpression>(std::move(root)) : nullptr;
  } catch (const std::exception&) {
    return nullptr;
  }
}

NativeExpression::NativeExpression(std::unique_ptr<Node> root) : root_(std::move(root)) {}
NativeExpression::~NativeExpression() = default;

std::optional<Json> NativeExpression::value(const Json& vars) const {
  Result v = root_->eval(vars);
  if (!v) return std::nullopt;
  const Json& j = v->get();
  // What `| tojson` prints and reads back unchanged: not a float (6 digits), list or object.
  if (!(j.is_boolean() || j.is_string() || (j.is_number_integer() && number(j, false)))) return std::nullopt;
  if (j.is_number_integer() && !j.is_number_unsigned() && j.get<int64_t>() >= 0)
    return Json(j.get<uint64_t>());  // as `| tojson` read back gives it
  return v->ref ? *v->ref : std::move(v->own);
}

std::optional<bool> NativeExpression::truthy(const Json& vars) const {
  Result v = root_->eval(vars);
  if (!v || !plain(v->get())) return std::nullopt;
  return truthiness(v->get());
}

}  // namespace skein
