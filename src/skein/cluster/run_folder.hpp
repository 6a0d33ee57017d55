// The run folder of a finished cluster run, written from the database (SPEC §9): the same files,
// in the same order, as a local run of the chain over the whole input writes — each node's lines,
// flattened/, errors.jsonl shard after shard (shards end where the local run's batches end, see
// shard_cutter.hpp), rolled over at the run's max_lines_per_file; run.json with the counts summed
// over the shards and a "cluster" part (run id, shards, retries).
//
// Blocking (database reads, file writes): call from a command's thread.
#pragma once
#include <string>

#include "shard_queue.hpp"
#include "skein/chain.hpp"

namespace skein::cluster {

// Writes the folder of the run `spec` stored (whose shards are all done) into `dir`. `chain` is
// the run's chain, parsed from its stored text. Throws FailedPreconditionError while shards are
// not done.
RunSummary write_run_folder(ShardQueue& queue, const RunSpec& spec, const Chain& chain, const std::string& dir);

}  // namespace skein::cluster
