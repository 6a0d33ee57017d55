// The chain executor: records stream in batches of batch_size, each taken through the chain's nodes
// (batch_nodes.hpp) and its lines handed to the run folder's thread; a checkpoint (file positions,
// input position, counts, in run.json) follows completed batches, so a killed run resumes with
// nothing lost or doubled.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <optional>

#include "batch_nodes.hpp"
#include "chain_graph.hpp"
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
        cache_(response_store(options)),
        nodes_({chain, summary_, *broker_, engines_, applies_, cache_.get(), [this] { progress(false); }}),
        next_row_(options.first_row) {
    if (!broker_->contains("local")) broker_->add(local_engine_config());
    for (const auto& [name, config] : chain.engines)
      if (own_broker_ || !broker_->contains(name)) broker_->add(config);
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
      output_.finish();                       // the batches handed over are written, before their loop goes
      nodes_.take_lines().write_to(writer_);  // a failed batch's, as far as it got (resume cuts them back)
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
  // The run's response cache: the one given, the file named, or none.
  static std::shared_ptr<ResponseStore> response_store(const RunOptions& options) {
    if (options.response_store) return options.response_store;
    if (options.cache_file.empty()) return nullptr;
    return std::make_shared<ResponseCache>(options.cache_file);
  }

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
      co_await nodes_.run(batch);
      input_position_ = reader.position();
      // Its lines and maybe a checkpoint are written on the output's thread
      // (named: GCC 12 destroys some temporaries of a co_await twice)
      BatchOutput done{nodes_.take_lines(), due_checkpoint()};
      co_await output_.put(std::move(done));
      if (at_end_) break;
    }
    input_position_ = reader.position();
    if (nodes_.has_lines()) {  // bad input at the end
      BatchOutput rest{nodes_.take_lines(), {}};
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
        nodes_.record_error({row_id, "input", line->line, line->raw, problem});
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

  // Every node's path ("verdict", "fr/translate_fr") in the summary and the run folder.
  void declare_nodes() {
    for (const auto& [path, node] : chain_nodes(chain_)) {
      summary_.nodes[path];
      summary_.node_order.push_back(path);
    }
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
  ApplyCalls applies_;
  size_t batch_size_;
  size_t history_room_ = 2 + keys_added(chain_.steps);  // the input, the row id and the top level's keys
  std::unique_ptr<Broker> own_broker_;
  Broker* broker_;
  RunEngines engines_;
  RunSummary summary_;
  std::shared_ptr<ResponseStore> cache_;
  BatchNodes nodes_;  // the batch through the nodes, and its lines
  std::string started_at_;
  long long next_row_ = 0;
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
