// The flattened form of a record's history in the run folder (flattened/NNN.jsonl: one row per
// final record, `node.field` columns).
#pragma once
#include <string>

#include "skein/json.hpp"

namespace skein {

// {"row_id", "id", "chain_input.review", "verdict.label", …}: nested objects become dotted keys,
// lists stay lists. Deterministic: keys in history order.
Json flatten_history(const Json& history, const std::string& id);

}  // namespace skein
