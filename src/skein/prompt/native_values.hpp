// The values of a natively evaluated expression (native_expression.hpp) and the Jinja engine's
// rules on them: equality, numbers, truthiness, what the engine sees as null. Each rule answers
// exactly as llama.cpp's common/jinja does, or declines (nullopt).
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "skein/json.hpp"

namespace skein::native {

// A value while evaluating: borrowed from the history, or made here.
struct Val {
  const Json* ref = nullptr;
  Json own;
  const Json& get() const { return ref ? *ref : own; }
};
using Result = std::optional<Val>;  // nullopt: declined

inline Result borrowed(const Json& j) { return Val{&j, {}}; }
inline Result made(Json j) { return Val{nullptr, std::move(j)}; }
// A part of `outer` (a field, an item): borrowed when `outer` is.
inline Result part(const Val& outer, const Json& child) { return outer.ref ? borrowed(child) : made(child); }

constexpr double kExact = 9007199254740992.0;  // 2^53: every integer up to it is a double
inline bool exact(int64_t i) { return i >= -int64_t(kExact) && i <= int64_t(kExact); }

// A number as the engine holds it: the integer part and the float part, both compared by `==`.
struct Number {
  int64_t i;
  double f;
  bool is_float;
};
// Declined beyond 2^53, where the engine's conversions lose or invent digits, and for non-finite
// floats; booleans count only `with_bool`.
std::optional<Number> number(const Json& j, bool with_bool);
// `a == b` on scalars (the left side's equivalence, as `in` on a list uses it); declined for
// nulls, lists and objects on the left.
std::optional<bool> equivalent(const Json& a, const Json& b);
// A value the engine sees as it is here: not a null, nor a float that the history's dump makes null.
bool plain(const Json& j);
bool truthiness(const Json& j);
// The names an object's `.name` means before its keys (obj.items is the built-in, not the key).
const std::set<std::string>& object_builtins();

}  // namespace skein::native
