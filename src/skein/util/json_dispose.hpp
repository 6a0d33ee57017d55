// Frees a Json tree for less than its destructor costs. nlohmann's destructor moves the members of
// every object and array it frees into a stack it allocates (so that deep nesting cannot overflow
// the call stack); emptying the containers from the leaves up first leaves it nothing to move. A
// chain record's history is freed this way: its destruction was a fifth of an Apply-only chain's
// time.
//
// Recursion stops at kDisposeDepth levels; deeper members are left to the destructor.
// Thread safety: as for any Json, one thread at a time per value.
#pragma once
#include "skein/json.hpp"

namespace skein {

inline constexpr int kDisposeDepth = 32;

// `value` becomes null; what it held is freed.
void dispose(Json& value);

}  // namespace skein
