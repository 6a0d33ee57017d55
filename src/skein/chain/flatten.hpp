// The flattened form of a record's history in the run folder (flattened/NNN.jsonl: one row per
// final record, `node.field` columns).
#pragma once
#include <string>

#include "skein/json.hpp"
#include "util/json_line.hpp"

namespace skein {

// The row {"row_id", "id", "chain_input.review", "verdict.label", …} as one JSON line (newline
// included) in `out`: nested objects become dotted keys, lists stay lists; keys in history order.
// A key met twice (a dotted key beside the object it spells) keeps its first place and its last
// value, as a JSON object built key by key would. Written from the history itself: no value copied.
void flattened_line(const Json& history, const std::string& id, JsonLine& out);

}  // namespace skein
