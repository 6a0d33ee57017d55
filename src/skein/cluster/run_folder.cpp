#include "run_folder.hpp"

#include "chain/chain_graph.hpp"
#include "chain/run_state.hpp"
#include "chain/run_writer.hpp"

namespace skein::cluster {

RunSummary write_run_folder(ShardQueue& queue, const RunSpec& spec, const Chain& chain, const std::string& dir) {
  const std::string& run = spec.id;
  const Json& options = spec.options;
  const RunProgress progress = queue.progress(run);
  if (progress.state != ChainStatus::done)
    throw FailedPreconditionError("cluster run " + run + " is " + to_string(progress.state) + " (" +
                                  std::to_string(progress.done) + " of " + std::to_string(progress.shards) +
                                  " shards done)");
  RunOptions o;
  o.input_path = options.value("input", "");
  o.output_dir = dir;
  o.max_lines_per_file = options.value("max_lines_per_file", size_t(100000));
  RunWriter writer(dir, o.max_lines_per_file);
  RunSummary s;
  s.output_dir = dir;
  for (const auto& [path, node] : chain_nodes(chain)) {
    s.node_order.push_back(path);
    s.nodes[path];
  }
  writer.start(s.node_order);
  writer.json_file("graph.json", chain_json(chain));
  Json engines = Json::object();
  for (int shard = 0; shard < progress.shards; ++shard) {
    const std::optional<ShardResult> r = queue.result(run, shard);
    if (!r) throw FailedPreconditionError("shard " + std::to_string(shard) + " of " + run + " is not done");
    for (const auto& [node, lines] : r->outputs) writer.copy_lines(node, lines);
    writer.copy_lines(kErrorsFile, r->errors);
    add_counts(r->counts, s);
    const Json shard_engines = r->counts.value("engines", Json::object());
    for (const auto& [name, e] : shard_engines.items())
      if (!engines.contains(name)) engines[name] = e;
  }
  s.status = ChainStatus::done;
  Json run_json = chain_run_json(
      chain, o, {ChainStatus::done, options.value("started_at", ""), options.value("batch_size", size_t(0)), engines},
      s);
  run_json["cluster"] = {{"run", run}, {"shards", progress.shards}, {"retries", progress.retries}};
  writer.positions();
  writer.run_json(run_json);
  return s;
}

}  // namespace skein::cluster
