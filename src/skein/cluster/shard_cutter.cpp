#include "shard_cutter.hpp"

#include "chain/input_checks.hpp"
#include "chain/input_reader.hpp"

namespace skein::cluster {

ShardCutter::ShardCutter(const Chain& chain, std::istream& input, std::string file, size_t batch_size,
                         size_t shard_size, bool strict)
    : chain_(chain), in_(input), file_(std::move(file)), strict_(strict) {
  if (batch_size < 1 || shard_size < 1) throw InvalidArgumentError("batch and shard sizes must be at least 1");
  per_shard_ = (shard_size + batch_size - 1) / batch_size * batch_size;
}

std::optional<ShardInput> ShardCutter::next() {
  ShardInput s{line_ + 1, row_, 0, {}};
  size_t valid = 0;
  for (std::string text; valid < per_shard_ && std::getline(in_, text);) {
    ++line_;
    if (s.lines++) s.text += '\n';
    if (const size_t first = text.find_first_not_of(" \t\r"); first != std::string::npos) {
      if (row_ == 0 && text[first] == '[')  // what a local run reads as a JSON array
        throw ConfigError({file_, int(line_)}, "a cluster run reads JSONL (one record per line), not a JSON array");
      ++row_;
      const std::string problem = record_problem(chain_, parse_input_line(text, size_t(line_)));
      if (problem.empty())
        ++valid;
      else if (strict_)
        throw ConfigError({file_, int(line_)}, problem);
    }
    s.text += text;
  }
  if (s.lines == 0) return std::nullopt;
  return s;
}

}  // namespace skein::cluster
