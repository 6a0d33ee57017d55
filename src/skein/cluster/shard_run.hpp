// One shard of a cluster run worked on as a local run of its lines (SPEC §9): the chain runs in a
// scratch folder with the shard's first line and row, so its records, error records and messages
// read as in a run over the whole input; the folder's files become the shard's result.
//
// Blocks the calling thread for the shard's whole run (run_chain's own loop does the work); call
// it from a worker's thread, never from a loop.
#pragma once
#include <filesystem>
#include <string>

#include "shard_queue.hpp"
#include "skein/chain.hpp"

namespace skein::cluster {

// `options` supplies the batch size, cache, broker, stop and warnings; input, output folder and
// numbering are the shard's. Returns per node (and "flattened") its output lines, the error lines
// and the counts (counts_json, plus "node_order" and "engines"). Throws what run_chain throws; a
// stopped run throws CancelledError. `scratch` is made and removed.
ShardResult run_shard(const Chain& chain, const RunOptions& options, const Claim& claim, const std::string& input,
                      const std::filesystem::path& scratch);

}  // namespace skein::cluster
