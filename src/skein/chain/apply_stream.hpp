// A chain's last nodes, when they are all built-in Applies (filter, map, explode), run record by
// record instead of node by node. Each record goes down through them: its history gains a node's
// output on the way down and loses it again on the way back, and each record that comes out of the
// last node is written as its flattened row there and then. So a fan-out copies no history and no
// record outlives its row, where the node-by-node run copies a history for every output of an
// explode and keeps every record of the batch until the end of the chain.
//
// The run folder gets the same lines, in the same order: each node's file and the flattened rows
// in the records' order; the batch's errors node by node (collected, for the caller to write). A
// node whose id an earlier branch's `join:` took replaces that key's value where it stands (and puts
// it back on the way up), as the node-by-node run's history[id] = output did.
//
// Threads: on the run's loop, which it holds for a batch (as the node-by-node run of built-ins did).
// Not thread-safe.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "line_blocks.hpp"
#include "record.hpp"
#include "run_writer.hpp"
#include "skein/chain.hpp"

namespace skein {

class ApplyStream {
 public:
  // Where `steps`' trailing built-in Applies start (steps.size() when the last node is not one).
  static size_t start_in(const std::vector<Node>& steps);

  // Where one batch goes: its lines, the counts of each node (counts[i]: nodes[i]'s), its errors.
  struct Out {
    LineBlocks& lines;
    JsonLine& line;  // each line is formatted here first
    std::span<NodeCounts* const> counts;
    std::vector<ErrorRecord>& errors;  // appended to, node by node
  };

  // `tail`: top-level built-in Applies; `head`: the top-level nodes before them (whose history
  // keys they may take again). Referred to: the chain outlives this.
  ApplyStream(std::span<const Node> head, std::span<const Node> tail);

  // Runs each record of `batch` through the nodes and writes its rows; the histories are freed.
  // Returns the number of rows written.
  size_t run(std::vector<Record>& batch, const Out& out);

 private:
  struct Stage {
    const Apply* apply;
    bool fans_out;
    bool replaces;                    // its id is a join alias of the head: a key every record has
    size_t block;                     // its block in the batch's lines, once it has one
    std::vector<ErrorRecord> errors;  // the batch's, until run() hands them over
  };
  void down(size_t stage, Json& history);
  void output(size_t stage, Json& history, Json& value, size_t k);
  void then_down(size_t stage, Json& history, Json& value);
  void row(const Json& history);
  void add_line(size_t& block, const std::string& node, std::string_view line);

  std::vector<Stage> stages_;
  size_t rows_block_;
  // The batch and the record under way (run()'s)
  const Out* out_ = nullptr;
  const Record* record_ = nullptr;
  std::string id_;  // the id of the record at the current depth
  size_t rows_ = 0;
};

}  // namespace skein
