#include "store_queue.hpp"

#include <pthread.h>

namespace skein::runtime {

StoreQueue::StoreQueue(std::string thread_name, std::function<void(Batch&)> write)
    : name_(std::move(thread_name)), write_(std::move(write)), thread_([this] { loop(); }) {}

StoreQueue::~StoreQueue() { stop(); }

void StoreQueue::stop() {
  {
    MutexLock l(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StoreQueue::push(Item item) {
  {
    MutexLock l(mu_);
    queue_.push_back(std::move(item));
    ++queued_;
  }
  wake_.notify_one();
}

void StoreQueue::flush() {
  MutexLock l(mu_);
  const uint64_t target = queued_;
  ++flushing_;
  wake_.notify_all();
  while (done_ < target) written_.wait(l.native());
  --flushing_;
}

StoreQueue::Batch StoreQueue::take() {
  Batch batch;
  if (queue_.size() <= kMaxBatch) {
    batch.swap(queue_);
  } else {  // a transaction short enough not to hold readers and other hosts up for long
    batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + kMaxBatch));
    queue_.erase(queue_.begin(), queue_.begin() + kMaxBatch);
  }
  return batch;
}

void StoreQueue::loop() {
  ::pthread_setname_np(::pthread_self(), name_.substr(0, 15).c_str());
  MutexLock l(mu_);
  for (;;) {
    while (!has_work()) wake_.wait(l.native());
    if (queue_.empty() && stop_) return;
    // Group commit: a transaction costs more than its rows.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(500);
    while (!group_ready())
      if (wake_.wait_until(l.native(), deadline) == std::cv_status::timeout) break;
    Batch batch = take();
    l.unlock();  // push() goes on while the batch is written
    write_(batch);
    for (auto& item : batch)  // durable now (or given up): the runs waiting for it go on
      if (auto* row = std::get_if<LedgerRow>(&item); row && row->committed) row->committed();
    l.lock();
    done_ += batch.size();
    written_.notify_all();
  }
}

}  // namespace skein::runtime
