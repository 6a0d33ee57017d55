// The run folder's description of a chain: graph.json (every node and edge), and its nodes by path.
#pragma once
#include "skein/chain.hpp"

namespace skein {

// Every Step and Apply with its path ("verdict", "fr/translate_fr" inside branches), in chain
// order: the nodes of a run's summary and folder. Pointers into `chain`.
std::vector<std::pair<std::string, const Node*>> chain_nodes(const Chain& chain);

}  // namespace skein
