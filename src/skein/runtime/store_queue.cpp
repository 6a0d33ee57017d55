#include "store_queue.hpp"

#include <pthread.h>

namespace skein::runtime {

StoreQueue::StoreQueue(std::string thread_name, std::function<void(Batch&)> write)
    : name_(std::move(thread_name)), write_(std::move(write)), thread_([this] { loop(); }) {}

StoreQueue::~StoreQueue() { stop(); }

void StoreQueue::stop() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StoreQueue::push(Item item) {
  {
    std::lock_guard l(mu_);
    queue_.push_back(std::move(item));
    ++queued_;
  }
  wake_.notify_one();
}

void StoreQueue::flush() {
  std::unique_lock l(mu_);
  const uint64_t target = queued_;
  ++flushing_;
  wake_.notify_all();
  written_.wait(l, [&] { return done_ >= target; });
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
  std::unique_lock l(mu_);
  for (;;) {
    wake_.wait(l, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) return;
    // Group commit: a transaction costs more than its rows.
    if (queue_.size() < kGroup && !stop_ && !flushing_)
      wake_.wait_for(l, std::chrono::microseconds(500), [&] { return stop_ || flushing_ || queue_.size() >= kGroup; });
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
