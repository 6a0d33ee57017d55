// The counts of a run as run.json holds them, and back: what a checkpoint saves and resume restores.
#pragma once
#include <filesystem>
#include <string>

#include "skein/chain.hpp"

namespace skein {

// {"counts": {records_in, records_out, errors}, "nodes": {path: {in, out, errors, tokens…}}}
Json counts_json(const RunSummary& s);
// Restores what counts_json saved into `s` (nodes not in `j` keep their counts).
void restore_counts(const Json& j, RunSummary& s);

// The run.json of an earlier run in `dir` that --resume continues: one with a checkpoint, or a
// finished one (status done); null when there is none to continue. Throws ConfigError when that
// run was of another chain file or another input.
Json resumable_run(const std::filesystem::path& dir, const Chain& chain, const RunOptions& options);

// The current time as 2026-11-23T10:00:00Z.
std::string utc_now();

}  // namespace skein
