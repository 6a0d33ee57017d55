// A cluster run's input cut into shards (SPEC §9) so that the run's files come out as a local run
// of the same chain writes them. A local run reads its records in batches of batch_size *valid*
// records, and its errors.jsonl follows the batches (a batch's bad input lines, then its nodes'
// error records); a shard therefore ends where a batch of the local run ends: after the line that
// completes its ceil(shard_size / batch_size)-th batch. Bad lines that follow go with the next
// shard, as they go with the next batch locally. Every line is parsed and checked against the
// chain's input type to know which records are valid.
//
// Reads JSONL as it comes (never the whole input). Not thread-safe; blocks on the stream.
#pragma once
#include <istream>
#include <optional>
#include <string>

#include "shard_queue.hpp"
#include "skein/chain.hpp"

namespace skein::cluster {

class ShardCutter {
 public:
  // `strict`: a bad record throws ConfigError at its line (`file` names the input) instead of
  // going into a shard to become an error record.
  ShardCutter(const Chain& chain, std::istream& input, std::string file, size_t batch_size, size_t shard_size,
              bool strict);
  // The next shard, or nullopt at the end of the input. Throws ConfigError for an input that is a
  // JSON array (a cluster run reads JSONL).
  std::optional<ShardInput> next();
  long long lines() const { return line_; }   // lines read so far
  long long records() const { return row_; }  // non-blank lines read so far

 private:
  const Chain& chain_;
  std::istream& in_;
  std::string file_;
  size_t per_shard_;  // valid records per shard: whole batches
  bool strict_;
  long long line_ = 0, row_ = 0;
};

}  // namespace skein::cluster
