// The chain executor: records stream in batches of batch_size; for each Step every record of the
// batch is in flight at once, so the engine batches them. Outputs and error records are appended
// as each node completes a batch (the chain's trailing filter / map / explode nodes take the batch
// record by record: apply_stream.hpp); a checkpoint (file positions, input position, counts, in
// run.json) follows completed batches, so a killed run resumes with nothing lost or doubled.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <span>

#include "apply_calls.hpp"
#include "apply_stream.hpp"
#include "branch_join.hpp"
#include "chain_graph.hpp"
#include "flatten.hpp"
#include "gather.hpp"
#include "input_checks.hpp"
#include "input_reader.hpp"
#include "node_checks.hpp"
#include "record.hpp"
#include "response_cache.hpp"
#include "resume.hpp"
#include "run_engines.hpp"
#include "run_output.hpp"
#include "run_state.hpp"
#include "run_writer.hpp"
#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "step_call.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Checkpoints are taken after a batch when this long has passed since the last one.
constexpr auto kCheckpointInterval = std::chrono::milliseconds(50);

class ChainRun {
 public:
  ChainRun(const Chain& chain, const RunOptions& options)
      : chain_(chain),
        options_(options),
        writer_(options.output_dir, options.max_lines_per_file),
        output_(writer_),
        applies_(chain, options.output_dir, options.blocking),
        batch_size_(size_t(options.batch_size.value_or(chain.batch_size))),
        // without a broker given, one for this run alone, with the chain's engines and `local`
        own_broker_(options.broker ? nullptr : std::make_unique<Broker>(broker_options(chain.broker))),
        broker_(options.broker ? options.broker : own_broker_.get()),
        engines_(chain, *broker_),
        next_row_(options.first_row) {
    if (tail_ < chain_.steps.size())
      stream_.emplace(std::span(chain_.steps).first(tail_), std::span(chain_.steps).subspan(tail_));
    if (!broker_->contains("local")) broker_->add(local_engine_config());
    for (const auto& [name, config] : chain.engines)
      if (own_broker_ || !broker_->contains(name)) broker_->add(config);
    if (options.response_store)
      cache_ = options.response_store;
    else if (!options.cache_file.empty())
      cache_ = std::make_shared<ResponseCache>(options.cache_file);
    summary_.output_dir = writer_.dir().string();
    declare_nodes();
  }

  RunSummary run() {
    t0_ = Clock::now();
    if (const Json saved = options_.resume ? resumable_run(writer_.dir(), chain_, options_) : Json();
        !saved.is_null()) {
      if (saved.value("status", "") == to_string(ChainStatus::done)) return finished_run(saved);
      restore(saved);
    } else {
      if (options_.strict && options_.input_path != "-") check_input_strictly(chain_, options_.input_path);
      started_at_ = utc_now();
      writer_.start(summary_.node_order);
      writer_.json_file("graph.json", chain_json(chain_));
      writer_.run_json(run_json(ChainStatus::running));
    }
    asio::io_context io(1);  // this thread alone runs it
    const JoinOnExit join_output{output_};
    std::exception_ptr failure;
    asio::cancellation_signal stop;
    if (options_.stop)
      options_.stop->attach([&] { asio::post(io, [&] { stop.emit(asio::cancellation_type::terminal); }); });
    asio::co_spawn(io, main(), asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr e) { failure = e; }));
    io.run();
    try {
      output_.finish();          // the batches handed over are written, before their loop goes
      lines_.write_to(writer_);  // a failed batch's lines, as far as it got (resume cuts them back)
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
    applies_.drop();  // exec workers still open (a failed or cancelled run) go while their loop lives
    if (options_.stop) options_.stop->detach();
    const bool cancelled = failure && options_.stop && options_.stop->requested();
    if (own_broker_) {  // a chain run ends by releasing its engines
      broker_->flush(true);
      broker_->settle();
    }
    summary_.wall_seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    summary_.status = cancelled ? ChainStatus::cancelled : failure ? ChainStatus::failed : ChainStatus::done;
    if (failure) summary_.error = cancelled ? "cancelled" : describe(failure);
    if (!output_.last_checkpoint().is_null()) checkpoint_ = output_.last_checkpoint();
    if (!failure) final_checkpoint();
    writer_.positions();  // flushes what a failed run got to (resume starts from the checkpoint)
    writer_.run_json(run_json(summary_.status));
    progress(true);
    if (failure && !cancelled) std::rethrow_exception(failure);
    return summary_;
  }

 private:
  RunSummary finished_run(const Json& saved) {
    add_counts(saved, summary_);
    summary_.status = ChainStatus::done;
    warn("the run in " + writer_.dir().string() + " is already complete: nothing to resume");
    return summary_;
  }

  void restore(const Json& saved) {
    checkpoint_ = saved.at("resume");
    started_at_ = saved.value("started_at", utc_now());
    add_counts(checkpoint_.at("counts"), summary_);
    next_row_ = checkpoint_.at("next_row").get<long long>();
    writer_.resume(summary_.node_order, checkpoint_.at("files"));
    summary_.resumed = true;
  }

  asio::awaitable<void> main() {
    InputReader reader(options_.input_path, options_.first_line);
    if (summary_.resumed) {
      size_t position = checkpoint_.at("input_position").get<size_t>();
      if (!checkpoint_.contains("blank_lines_counted"))  // a checkpoint of an older skein
        position += reader.leading_blank_lines();
      reader.skip_to(position);
    }
    if (!chain_.input) warn("the chain declares no `input:` type: input records are read as plain objects");
    for (;;) {
      std::vector<Record> batch = read_batch(reader);
      rows_total_ = reader.total();
      if (batch.empty() && at_end_) break;
      co_await run_nodes(std::span(chain_.steps).first(tail_), batch, "");
      input_position_ = reader.position();
      if (stream_)
        stream_tail(batch);
      else
        write_rows(batch);
      // Its lines and maybe a checkpoint are written on the output's thread
      // (named: GCC 12 destroys some temporaries of a co_await twice)
      BatchOutput done{std::exchange(lines_, {}), due_checkpoint()};
      co_await output_.put(std::move(done));
      if (at_end_) break;
    }
    input_position_ = reader.position();
    if (!lines_.empty()) {  // bad input at the end
      BatchOutput rest{std::exchange(lines_, {}), {}};
      co_await output_.put(std::move(rest));
    }
    co_await applies_.close();
  }

  // run.json with a resume point when kCheckpointInterval has passed since the last; null otherwise.
  Json due_checkpoint() {
    const auto now = Clock::now();
    if (now - last_checkpoint_ < kCheckpointInterval) return nullptr;
    last_checkpoint_ = now;
    Json run = run_json(ChainStatus::running, nullptr);
    run["resume"] = resume_point(input_position_, next_row_, summary_);
    return run;
  }

  // The checkpoint of a run that got to its end, once its output is written (off the loop).
  void final_checkpoint() {
    checkpoint_ = resume_point(input_position_, next_row_, summary_);
    checkpoint_["files"] = writer_.positions();
    writer_.run_json(run_json(ChainStatus::running));
  }

  void warn(const std::string& message) {
    if (options_.on_warning) options_.on_warning(message);
  }

  void progress(bool final) {
    if (options_.on_progress)
      options_.on_progress({summary_, rows_total_ ? std::optional(rows_total_->records) : std::nullopt,
                            rows_total_ && rows_total_->estimated,
                            std::chrono::duration<double>(Clock::now() - t0_).count(), final});
  }

  std::vector<Record> read_batch(InputReader& reader) {
    std::vector<Record> batch;
    while (batch.size() < batch_size_) {
      auto line = reader.next();
      if (!line) {
        at_end_ = true;
        break;
      }
      const long long row_id = next_row_++;
      ++summary_.records_in;
      if (const std::string problem = record_problem(chain_, *line); !problem.empty()) {
        if (options_.strict) throw ConfigError({options_.input_path, int(line->line)}, problem);
        record_error({row_id, "input", line->line, line->raw, problem});
        continue;
      }
      // Key by key (a braced list builds each pair as an array first), with room for every key
      Json history = object_with_room(history_room_);
      history["chain_input"] = std::move(*line->record);
      history["row_id"] = row_id;
      batch.push_back({row_id, line->line, std::move(history), std::to_string(row_id)});
    }
    return batch;
  }

  // The batch's flattened rows; the records are freed.
  void write_rows(std::vector<Record>& batch) {
    summary_.records_out += batch.size();
    for (const auto& r : batch) {
      flattened_line(r.history, r.id, line_);
      lines_.add(kFlattenedFile, line_.text());
    }
    dispose_histories(batch);
  }

  // The batch through the chain's trailing built-in Applies, record by record, and its rows.
  void stream_tail(std::vector<Record>& batch) {
    std::vector<NodeCounts*> counts;
    for (auto node = chain_.steps.begin() + ptrdiff_t(tail_); node != chain_.steps.end(); ++node)
      counts.push_back(&node_started(std::get<Apply>(*node).id));
    std::vector<ErrorRecord> errors;
    summary_.records_out += stream_->run(batch, {lines_, line_, counts, errors});
    for (const ErrorRecord& e : errors) record_error(e);
    for (NodeCounts* c : counts) node_done(*c);
  }

  void record_error(const ErrorRecord& e) {
    ++summary_.errors;
    lines_.add(kErrorsFile, error_line(line_, e));
  }

  // Every node's path ("verdict", "fr/translate_fr") in the summary and the run folder.
  void declare_nodes() {
    for (const auto& [path, node] : chain_nodes(chain_)) {
      summary_.nodes[path];
      summary_.node_order.push_back(path);
    }
  }

  // One batch through `nodes`. A step's engine is leased for the batch; consecutive steps on one
  // engine keep that lease, anything else gives it back first.
  asio::awaitable<void> run_nodes(std::span<const Node> nodes, std::vector<Record>& batch, std::string prefix) {
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
  asio::awaitable<void> run_branches(std::vector<const Branch*> branches, std::vector<Record>& batch,
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

  asio::awaitable<void> run_step(const Step& step, std::vector<Record>& batch, std::string prefix, Lease& held) {
    const std::string path = prefix + step.id;
    NodeCounts& counts = node_started(path);
    if (batch.empty()) {  // e.g. every record of the batch was bad input
      node_done(counts);
      co_return;
    }
    if (!held || held.name() != step.engine) {
      held.release();
      held = co_await broker_->async_acquire(step.engine, asio::use_awaitable);
      engines_.note(step.engine, summary_);
    }
    Engine& engine = held.engine();
    const CacheUse cache{cache_.get(), cache_ ? engines_.model_id(step.engine) : ""};
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
  asio::awaitable<void> run_apply(const Apply& a, std::vector<Record>& batch, std::string prefix) {
    const std::string path = prefix + a.id;
    NodeCounts& counts = node_started(path);
    const bool fan_out = apply_fans_out(a);
    std::vector<const Json*> histories;
    for (const auto& rec : batch) histories.push_back(&rec.history);
    std::vector<ApplyOutcome> outcomes = co_await applies_.outputs(a, path, std::move(histories));
    std::vector<Record> kept;
    for (size_t i = 0; i < batch.size(); ++i) {
      Record& rec = batch[i];
      ++counts.in;
      if (!outcomes[i].error.empty()) {
        ++counts.errors;
        record_error({rec.row_id, path, rec.line, "", "apply '" + a.id + "': " + outcomes[i].error});
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

  NodeCounts& node_started(const std::string& path) {
    NodeCounts& counts = summary_.nodes[path];
    if (!counts.start_ns) counts.start_ns = now_ns();
    return counts;
  }

  void node_done(NodeCounts& counts) {
    counts.end_ns = now_ns();
    counts.rows = summary_.records_in;
    progress(false);
  }

  // run.json, with `resume` unless it is null.
  Json run_json(ChainStatus status, const Json& resume) const {
    Json run = chain_run_json(chain_, options_, {status, started_at_, batch_size_, engines_.json(summary_)}, summary_);
    if (!resume.is_null()) run["resume"] = resume;
    return run;
  }
  // Off the loop: with the last checkpoint (on the loop, the output's thread may be writing it).
  Json run_json(ChainStatus status) const { return run_json(status, checkpoint_); }

  const Chain& chain_;
  const RunOptions& options_;
  RunWriter writer_;
  RunOutput output_;  // writer_'s, from the first batch handed over until run() takes it back
  LineBlocks lines_;  // the batch's lines, formatted on the loop
  JsonLine line_;     // each line's, kept from line to line
  ApplyCalls applies_;
  size_t tail_ = ApplyStream::start_in(chain_.steps);  // the trailing built-in Applies: streamed
  std::optional<ApplyStream> stream_;
  size_t batch_size_;
  size_t history_room_ = 2 + keys_added(chain_.steps);  // the input, the row id and the top level's keys
  std::unique_ptr<Broker> own_broker_;
  Broker* broker_;
  RunEngines engines_;
  RunSummary summary_;
  std::string started_at_;
  long long next_row_ = 0;
  std::shared_ptr<ResponseStore> cache_;
  size_t input_position_ = 0;
  bool at_end_ = false;
  Json checkpoint_;  // the last one saved (or restored): the output's while the loop runs
  Clock::time_point t0_, last_checkpoint_{};
  std::optional<InputReader::Total> rows_total_;
};

}  // namespace

RunSummary run_chain(const Chain& chain, const RunOptions& options) {
  const auto on_broker = [&](const std::string& engine) { return options.broker && options.broker->contains(engine); };
  for (const auto& w : check_chain(chain, true, on_broker))
    if (options.on_warning) options.on_warning(w.where.str() + ": " + w.message);
  if (options.output_dir.empty()) throw ConfigError({chain.file, 0}, "no output folder given");
  if (options.first_line < 1 || options.first_row < 0)
    throw InvalidArgumentError("the first line is numbered 1 or more, the first row 0 or more");
  return ChainRun(chain, options).run();
}

}  // namespace skein
