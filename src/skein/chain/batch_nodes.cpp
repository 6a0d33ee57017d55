#include "batch_nodes.hpp"

#include <boost/asio/use_awaitable.hpp>

#include "branch_join.hpp"
#include "flatten.hpp"
#include "gather.hpp"
#include "step_call.hpp"

namespace skein {

namespace asio = boost::asio;

BatchNodes::BatchNodes(Context context) : c_(std::move(context)) {
  const std::span<const Node> nodes(c_.chain.steps);
  const size_t tail = ApplyStream::start_in(c_.chain.steps);
  head_ = nodes.first(tail);
  tail_ = nodes.subspan(tail);
  if (!tail_.empty()) stream_.emplace(head_, tail_);
}

asio::awaitable<void> BatchNodes::run(std::vector<Record>& batch) {
  co_await run_nodes(head_, batch, "");
  if (stream_)
    stream_tail(batch);
  else
    write_rows(batch);
}

void BatchNodes::record_error(const ErrorRecord& e) {
  ++c_.summary.errors;
  lines_.add(kErrorsFile, error_line(line_, e));
}

// One batch through `nodes`. A step's engine is leased for the batch; consecutive steps on one
// engine keep that lease, anything else gives it back first.
asio::awaitable<void> BatchNodes::run_nodes(std::span<const Node> nodes, std::vector<Record>& batch,
                                            std::string prefix) {
  Lease held;
  for (const auto& node : nodes) {
    if (const Step* step = std::get_if<Step>(&node)) {
      co_await run_step(*step, batch, prefix, held);
      continue;
    }
    held.release();
    if (const Apply* a = std::get_if<Apply>(&node)) {
      co_await run_apply(*a, batch, prefix);
      continue;
    }
    std::vector<const Branch*> group;  // a lone branch is a group of one
    if (const Branch* b = std::get_if<Branch>(&node))
      group.push_back(b);
    else
      for (const auto& br : std::get<Parallel>(node).branches) group.push_back(&br);
    co_await run_branches(group, batch, prefix);
  }
}

// Each branch runs on its own copy of the batch, all at once; then each join puts the branch's
// last output into the records it came from.
asio::awaitable<void> BatchNodes::run_branches(std::vector<const Branch*> branches, std::vector<Record>& batch,
                                               std::string prefix) {
  std::vector<std::vector<Record>> copies;
  for (const Branch* b : branches) copies.push_back(branch_copy(*b, batch));
  co_await gather(branches.size(), [&](size_t i) -> asio::awaitable<void> {
    co_await run_nodes(branches[i]->steps, copies[i], prefix + branches[i]->id + "/");
  });
  for (size_t i = 0; i < branches.size(); ++i) {
    if (branches[i]->join) join_branch(*branches[i], copies[i], batch);
    dispose_histories(copies[i]);
  }
}

asio::awaitable<void> BatchNodes::run_step(const Step& step, std::vector<Record>& batch, std::string prefix,
                                           Lease& held) {
  const std::string path = prefix + step.id;
  NodeCounts& counts = node_started(path);
  if (batch.empty()) {  // e.g. every record of the batch was bad input
    node_done(counts);
    co_return;
  }
  if (!held || held.name() != step.engine) {
    held.release();
    held = co_await c_.broker.async_acquire(step.engine, asio::use_awaitable);
    c_.engines.note(step.engine, c_.summary);
  }
  Engine& engine = held.engine();
  const CacheUse cache{c_.cache, c_.cache ? c_.engines.model_id(step.engine) : ""};
  std::vector<const Json*> histories;
  histories.reserve(batch.size());
  for (const auto& rec : batch) histories.push_back(&rec.history);
  std::vector<StepOutcome> outcomes = co_await call_steps(step, engine, histories, cache);
  std::vector<Record> kept;
  for (size_t i = 0; i < batch.size(); ++i) {
    StepOutcome& o = outcomes[i];
    count_outcome(o, counts);
    if (!o.output) {
      ++counts.errors;
      record_error({batch[i].row_id, path, batch[i].line, o.raw, o.reason});
      continue;
    }
    ++counts.out;
    lines_.add(path, output_line(line_, batch[i].row_id, batch[i].id, *o.output));
    batch[i].history[step.id] = std::move(*o.output);
    kept.push_back(std::move(batch[i]));
  }
  dispose_histories(batch);  // those dropped (the others were moved)
  batch = std::move(kept);
  node_done(counts);
}

// Apply: each record to 0..n records; a failing expression or function makes an error record.
asio::awaitable<void> BatchNodes::run_apply(const Apply& a, std::vector<Record>& batch, std::string prefix) {
  const std::string path = prefix + a.id;
  NodeCounts& counts = node_started(path);
  const bool fan_out = apply_fans_out(a);
  std::vector<const Json*> histories;
  for (const auto& rec : batch) histories.push_back(&rec.history);
  std::vector<ApplyOutcome> outcomes = co_await c_.applies.outputs(a, path, std::move(histories));
  std::vector<Record> kept;
  for (size_t i = 0; i < batch.size(); ++i) {
    Record& rec = batch[i];
    ++counts.in;
    if (!outcomes[i].error.empty()) {
      ++counts.errors;
      record_error({rec.row_id, path, rec.line, "", apply_failure(a, outcomes[i].error)});
      continue;
    }
    std::vector<Json>& outputs = outcomes[i].outputs;
    for (size_t k = 0; k < outputs.size(); ++k) {
      Record r = descendant(rec, k, outputs.size(), fan_out);
      lines_.add(path, output_line(line_, r.row_id, r.id, outputs[k]));
      r.history[a.id] = std::move(outputs[k]);
      kept.push_back(std::move(r));
      ++counts.out;
    }
  }
  dispose_histories(batch);  // those dropped (the others were moved)
  batch = std::move(kept);
  node_done(counts);
}

// The batch through the chain's trailing built-in Applies, record by record, and its rows.
void BatchNodes::stream_tail(std::vector<Record>& batch) {
  std::vector<NodeCounts*> counts;
  for (const Node& node : tail_) counts.push_back(&node_started(std::get<Apply>(node).id));
  std::vector<ErrorRecord> errors;
  c_.summary.records_out += stream_->run(batch, {lines_, line_, counts, errors});
  for (const ErrorRecord& e : errors) record_error(e);
  for (NodeCounts* c : counts) node_done(*c);
}

// The batch's flattened rows; the records are freed.
void BatchNodes::write_rows(std::vector<Record>& batch) {
  c_.summary.records_out += batch.size();
  for (const auto& r : batch) {
    flattened_line(r.history, r.id, line_);
    lines_.add(kFlattenedFile, line_.text());
  }
  dispose_histories(batch);
}

NodeCounts& BatchNodes::node_started(const std::string& path) {
  NodeCounts& counts = c_.summary.nodes[path];
  if (!counts.start_ns) counts.start_ns = now_ns();
  return counts;
}

void BatchNodes::node_done(NodeCounts& counts) {
  counts.end_ns = now_ns();
  counts.rows = c_.summary.records_in;
  c_.node_done();
}

}  // namespace skein
