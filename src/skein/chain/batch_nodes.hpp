// One batch of a chain run through the chain's nodes, and every line it makes: each node's outputs,
// the error records and the flattened rows, formatted into the batch's lines for the run to hand
// to its output thread. For each Step every record of the batch is in flight at once, so the
// engine batches them; a step's engine is leased for the batch only. The chain's trailing filter /
// map / explode nodes take the batch record by record (apply_stream.hpp). The run (chain_runner.cpp)
// keeps the rest: input, checkpoints, run.json, progress.
//
// Threads: on the run's loop only; not thread-safe. Nothing here blocks the loop: engines are
// leased and called asynchronously, exec and native Applies run off the loop (apply_calls.hpp).
// Referred to, and outliving this: the chain, the summary, the broker, the run's engines, the
// Apply calls, the response store.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "apply_calls.hpp"
#include "apply_stream.hpp"
#include "line_blocks.hpp"
#include "record.hpp"
#include "run_engines.hpp"
#include "run_writer.hpp"
#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "skein/response_store.hpp"

namespace skein {

class BatchNodes {
 public:
  struct Context {
    const Chain& chain;
    RunSummary& summary;  // node counts, errors and records out are added to it
    Broker& broker;
    RunEngines& engines;
    ApplyCalls& applies;
    ResponseStore* cache;             // null: none
    std::function<void()> node_done;  // after each node's part of a batch (the run's progress)
  };
  explicit BatchNodes(Context context);

  // The batch through every node, its rows written; the records are freed.
  boost::asio::awaitable<void> run(std::vector<Record>& batch);

  // An error record (bad input, a failed node) into the batch's lines, counted in the summary.
  void record_error(const ErrorRecord& e);

  // The lines made since the last take, in the order they were made per file.
  LineBlocks take_lines() { return lines_.take(); }
  bool has_lines() const { return !lines_.empty(); }

 private:
  boost::asio::awaitable<void> run_nodes(std::span<const Node> nodes, std::vector<Record>& batch, std::string prefix);
  boost::asio::awaitable<void> run_branches(std::vector<const Branch*> branches, std::vector<Record>& batch,
                                            std::string prefix);
  boost::asio::awaitable<void> run_step(const Step& step, std::vector<Record>& batch, std::string prefix, Lease& held);
  boost::asio::awaitable<void> run_apply(const Apply& a, std::vector<Record>& batch, std::string prefix);
  void stream_tail(std::vector<Record>& batch);
  void write_rows(std::vector<Record>& batch);
  NodeCounts& node_started(const std::string& path);
  void node_done(NodeCounts& counts);

  Context c_;
  LineBlocks lines_;                   // the batch's lines
  JsonLine line_;                      // each line's, kept from line to line
  std::span<const Node> head_, tail_;  // tail_: the trailing built-in Applies, streamed
  std::optional<ApplyStream> stream_;  // when tail_ is not empty
};

}  // namespace skein
