// Chain runs in the registry: each on a chain thread, its progress mirrored into its snapshot, a
// cancel passed on through its ChainStop.
#include "registry_impl.hpp"

namespace skein {

// A chain run on a chain thread: its progress mirrored, its end recorded like a graph run's.
void RunRegistry::Impl::run_chain_job(const std::shared_ptr<Run>& run) {
  if (run->stop->requested()) return end(run, RunState::cancelled, "cancelled");
  update(*run, [&] {
    run->snap.state = RunState::running;
    run->snap.started_ns = now_ns();
  });
  emit(*run, RunEventKind::started, {{"chain", run->snap.name}});
  persist(*run);
  RunOptions o = run->chain->options;
  o.stop = run->stop.get();
  o.on_progress = [this, run](const RunProgress& p) {
    Json nodes = Json::object();
    std::vector<NodeTiming> timings;  // a bar per node: from its first batch in to its last out
    for (const auto& id : p.so_far.node_order) {
      auto it = p.so_far.nodes.find(id);
      if (it == p.so_far.nodes.end()) continue;
      const NodeCounts& c = it->second;
      nodes[id] = {{"in", c.in}, {"out", c.out}, {"errors", c.errors}, {"cached", c.cached}};
      if (!c.start_ns) continue;
      NodeTiming t;
      t.index = timings.size();
      t.node = id;
      t.start_ns = c.start_ns;
      t.end_ns = c.end_ns;
      t.queue_ns = c.queue_ns;
      t.generate_ns = c.generate_ns;
      t.tokens = {c.prompt_tokens, c.generated_tokens, c.cached_prompt_tokens};
      timings.push_back(std::move(t));
    }
    Json progress{{"records_in", p.so_far.records_in},
                  {"records_out", p.so_far.records_out},
                  {"errors", p.so_far.errors},
                  {"rows_total", p.rows_total ? Json(*p.rows_total) : Json()},
                  {"rows_total_estimated", p.rows_total_estimated},
                  {"seconds", p.elapsed_seconds},
                  {"output_dir", p.so_far.output_dir},
                  {"nodes", std::move(nodes)}};
    update(*run, [&] {
      run->snap.progress = std::move(progress);
      run->snap.nodes = std::move(timings);
      run->snap.tokens = {};
      for (const auto& t : run->snap.nodes) run->snap.tokens += t.tokens;
    });
  };
  try {
    const RunSummary summary = run_chain(*run->chain->chain, o);
    end(run, summary.status == ChainStatus::done ? RunState::done : RunState::cancelled, summary.error);
  } catch (const std::exception& e) {
    end(run, RunState::failed, e.what());
  }
}

std::string RunRegistry::submit(ChainJob job) {
  if (!job.chain) throw InvalidArgumentError("a chain job needs a chain");
  auto run = std::make_shared<Run>();
  run->stop = std::make_unique<ChainStop>();
  run->snap.kind = RunKind::chain;
  run->snap.name = job.chain->name;
  run->snap.input = {{"input", job.options.input_path}, {"output", job.options.output_dir}};
  if (!job.resumes.empty()) run->snap.input["resumes"] = job.resumes;
  run->snap.submitted_ns = now_ns();
  run->job.verbosity = job.verbosity;
  run->chain = std::make_unique<ChainJob>(std::move(job));
  run->snap.id = impl_->allocate_id(RunKind::chain);
  impl_->keep(run);
  impl_->persist(*run);
  Impl* impl = impl_.get();
  asio::post(impl->chain_pool, [impl, run] { impl->run_chain_job(run); });
  return run->snap.id;
}

std::string RunRegistry::resume(const std::string& id, ChainJob job) {
  const auto old = get(id);
  if (!old) throw NotFoundError("no run '" + id + "'");
  if (old->kind != RunKind::chain) throw FailedPreconditionError(id + " is a graph run: resume it with its graph");
  if (!is_finished(old->state) || old->state == RunState::done)
    throw FailedPreconditionError(id + " is " + to_string(old->state) +
                                  ": only a CRASHED, CANCELLED or FAILED chain run can be resumed");
  if (!job.chain || job.chain->name != old->name)
    throw InvalidArgumentError(id + " is a run of chain '" + old->name + "', which is not the chain given");
  const std::string input = old->input.value("input", "");
  if (input.empty() || input == "-")
    throw FailedPreconditionError(id + " read its records from stdin: they cannot be read again");
  job.options.input_path = input;
  job.options.output_dir = old->input.value("output", "");
  job.options.resume = true;
  job.resumes = id;
  return submit(std::move(job));
}

}  // namespace skein
