// The public face of the cluster layer (skein/cluster.hpp) over its parts: ShardQueue, ShardCutter,
// write_run_folder, Worker and PgRunStore.
#include "skein/cluster.hpp"

#include "chain/run_state.hpp"
#include "pg_run_store.hpp"
#include "run_folder.hpp"
#include "shard_cutter.hpp"
#include "worker.hpp"

namespace skein {

ClusterQueue::ClusterQueue(const std::string& url) : queue_(std::make_unique<cluster::ShardQueue>(url)) {}
ClusterQueue::~ClusterQueue() = default;
ClusterQueue::ClusterQueue(ClusterQueue&&) noexcept = default;
ClusterQueue& ClusterQueue::operator=(ClusterQueue&&) noexcept = default;

int ClusterQueue::submit(ClusterRun run, const Chain& chain, std::istream& input, const std::string& input_name,
                         size_t batch_size, size_t shard_size, bool strict) {
  if (!run.options.contains("started_at")) run.options["started_at"] = utc_now();
  cluster::ShardCutter cutter(chain, input, input_name, batch_size, shard_size, strict);
  return queue_->submit(run, [&] { return cutter.next(); });
}

std::optional<ClusterRun> ClusterQueue::run(const std::string& id) { return queue_->run(id); }
ClusterProgress ClusterQueue::progress(const std::string& id) { return queue_->progress(id); }
std::vector<ClusterProgress> ClusterQueue::runs() { return queue_->runs(); }
bool ClusterQueue::cancel(const std::string& id) { return queue_->cancel(id); }

RunSummary ClusterQueue::write_run_folder(const ClusterRun& run, const Chain& chain, const std::string& dir) {
  return cluster::write_run_folder(*queue_, run, chain, dir);
}

ClusterWorker::ClusterWorker(ClusterWorkerOptions options)
    : worker_(std::make_unique<cluster::Worker>(std::move(options))) {}
ClusterWorker::~ClusterWorker() = default;
void ClusterWorker::run() { worker_->run(); }
void ClusterWorker::stop() { worker_->stop(); }
ClusterWorkerStats ClusterWorker::stats() const { return worker_->stats(); }

std::shared_ptr<RunStore> open_postgres_run_store(const std::string& url, size_t retention, uint64_t max_bytes) {
  return std::make_shared<cluster::PgRunStore>(url, retention, max_bytes);
}

}  // namespace skein
