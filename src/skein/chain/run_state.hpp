// run.json: the counts of a run as it holds them, and back (what a checkpoint saves and resume
// restores), and the rest of what it says of a chain run.
#pragma once
#include <exception>
#include <filesystem>
#include <string>

#include "skein/chain.hpp"

namespace skein {

// {"counts": {records_in, records_out, errors}, "nodes": {path: {in, out, errors, tokens…}}}
Json counts_json(const RunSummary& s);
// Adds what counts_json saved to `s`'s counts: restores them into a fresh summary, or sums the
// pieces of a run (cluster shards).
void add_counts(const Json& j, RunSummary& s);

// A checkpoint's resume point: where the input got to (input lines consumed), the next row id and
// the counts; "files" (where every file got) null, to be filled in once the lines before it are written.
Json resume_point(size_t input_position, long long next_row, const RunSummary& s);

// What run.json says of a chain run besides its options and counts.
struct RunHeader {
  ChainStatus status = ChainStatus::running;
  std::string started_at;
  size_t batch_size = 0;
  Json engines = Json::object();  // {name: {model, load_seconds}} of the engines it used
};

// run.json: the chain, its file and hash, the options, `header` and the summary's counts (and its
// error, when it has one).
Json chain_run_json(const Chain& chain, const RunOptions& options, const RunHeader& header, const RunSummary& s);

// The error a failed run's run.json gives: the exception's message.
std::string describe(std::exception_ptr e);

// The current time as 2026-11-23T10:00:00Z.
std::string utc_now();

}  // namespace skein
