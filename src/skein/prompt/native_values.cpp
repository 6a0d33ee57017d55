// The Jinja engine's rules on values, as llama.cpp's common/jinja applies them (value.h's
// equivalence and truthiness, from_json), on nlohmann JSON.
#include "native_values.hpp"

#include <jinja/runtime.h>

#include <cmath>

namespace skein::native {

std::optional<Number> number(const Json& j, bool with_bool) {
  if (j.is_boolean()) {
    if (!with_bool) return std::nullopt;
    const bool b = j.get<bool>();
    return Number{b, double(b), false};
  }
  if (j.is_number_integer()) {
    if (j.is_number_unsigned() ? j.get<uint64_t>() > uint64_t(kExact) : !exact(j.get<int64_t>())) return std::nullopt;
    const int64_t i = j.get<int64_t>();
    return Number{i, double(i), false};
  }
  if (j.is_number_float()) {  // NaN and infinities reach the engine as null (the history is dumped)
    const double f = j.get<double>();
    if (!std::isfinite(f) || std::abs(f) >= kExact) return std::nullopt;
    return Number{int64_t(f), f, true};
  }
  return std::nullopt;
}

// `a == b` on scalars (the left side's equivalence, as `in` on a list uses it); declined for
// nulls, lists and objects on the left.
std::optional<bool> equivalent(const Json& a, const Json& b) {
  if (a.is_string()) return b.is_string() && a.get_ref<const std::string&>() == b.get_ref<const std::string&>();
  const std::optional<Number> x = number(a, true);
  if (!x) return std::nullopt;
  if (!(b.is_boolean() || b.is_number()))
    return b.is_null() || b.is_string() || b.is_structured() ? std::optional<bool>(false) : std::nullopt;
  const std::optional<Number> y = number(b, true);
  if (!y) return std::nullopt;
  return x->i == y->i && x->f == y->f;
}

// A value the engine sees as it is here: not a null, nor a float that the history's dump makes null.
bool plain(const Json& j) { return !j.is_null() && !(j.is_number_float() && !std::isfinite(j.get<double>())); }

bool truthiness(const Json& j) {
  if (j.is_null()) return false;
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>() != 0;
  if (j.is_number_float()) return j.get<double>() != 0.0;
  if (j.is_string()) return !j.get_ref<const std::string&>().empty();
  return !j.empty();  // lists and objects
}

// The names an object's `.name` means before its keys (obj.items is the built-in, not the key).
const std::set<std::string>& object_builtins() {
  static const std::set<std::string> names = [] {
    std::set<std::string> out;
    for (const auto& [name, fn] : jinja::mk_val<jinja::value_object>()->get_builtins()) out.insert(name);
    return out;
  }();
  return names;
}

}  // namespace skein::native
