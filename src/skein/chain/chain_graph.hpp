// The run folder's description of a chain and of its records: graph.json (every node and edge)
// and the flattened form of a history (one row per final record, `node.field` columns).
#pragma once
#include "skein/chain.hpp"

namespace skein {

Json chain_graph(const Chain& chain);

// Every Step and Apply with its path ("verdict", "fr/translate_fr" inside branches), in chain
// order: the nodes of a run's summary and folder. Pointers into `chain`.
std::vector<std::pair<std::string, const Node*>> chain_nodes(const Chain& chain);

// {"row_id", "id", "chain_input.review", "verdict.label", …}: nested objects become dotted keys,
// lists stay lists. Deterministic: keys in history order.
Json flatten_history(const Json& history, const std::string& id);

}  // namespace skein
