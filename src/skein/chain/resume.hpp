// Resuming a chain run (--resume): which earlier run in the output folder is continued. How far
// it got is its checkpoint in run.json (run_state.hpp); the run writer cuts its files back to it.
#pragma once
#include <filesystem>

#include "skein/chain.hpp"

namespace skein {

// The run.json of an earlier run in `dir` that --resume continues: one with a checkpoint, or a
// finished one (status done); null when there is none to continue. Throws ConfigError when that
// run was of another chain file or another input.
Json resumable_run(const std::filesystem::path& dir, const Chain& chain, const RunOptions& options);

}  // namespace skein
