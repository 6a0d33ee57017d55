// The llama engine's decode loop: continuous batching over a fixed set of slots.
//
// One thread owns the llama_context. Callers only touch the mailbox (queue + stop flag) and their
// job's cancel flag; the loop takes queued jobs into free slots, drops cancelled ones, decodes one
// batch for all busy slots and samples each slot's next token.
#include "skein/llama_engine.hpp"

#include <common.h>

#include <thread>

#include "model.hpp"
#include "slot.hpp"

namespace skein {
namespace llama {
namespace {

class LlamaEngine final : public Engine {
 public:
  LlamaEngine(std::string name, const LlamaOptions& options)
      : name_(std::move(name)), options_(options), mailbox_(std::make_shared<Mailbox>()) {
    model_ = load_model(name_, options.model_path);
    llama_context_params params = llama_context_default_params();
    params.n_seq_max = uint32_t(options.parallel);
    params.n_ctx = uint32_t(options.parallel * options.context);
    params.n_batch = uint32_t(options.batch);
    params.n_ubatch = uint32_t(std::min(options.batch, 512));
    const int threads = options.threads > 0 ? options.threads : int(std::thread::hardware_concurrency());
    params.n_threads = params.n_threads_batch = threads;
    params.kv_unified = false;
    params.no_perf = true;
    ctx_ = llama_init_from_model(model_.model, params);
    if (!ctx_) {
      free_model(model_);
      throw EngineError(name_, "cannot create a llama.cpp context for " + options.model_path);
    }
    for (int i = 0; i < options.parallel; ++i) slots_.emplace_back(i);
    batch_ = llama_batch_init(options.batch, 0, 1);
    thread_ = std::thread([this] { loop(); });
  }

  ~LlamaEngine() override {
    {
      std::lock_guard lock(mailbox_->mu);
      mailbox_->stop = true;
      mailbox_->cv.notify_all();
    }
    thread_.join();
    llama_batch_free(batch_);
    llama_free(ctx_);
    free_model(model_);
  }

  const std::string& name() const override { return name_; }

  std::shared_ptr<PendingRequest> submit(GenerateRequest request, std::function<void(GenerateResult)> done) override {
    auto job = std::make_shared<Job>();
    job->request = std::move(request);
    job->done = std::move(done);
    job->mailbox = mailbox_;
    job->result.queued_ns = now_ns();
    std::unique_lock lock(mailbox_->mu);
    if (mailbox_->stop) {
      lock.unlock();
      job->finish(Finish::error, "engine '" + name_ + "' is stopped");
      return job;
    }
    mailbox_->queue.push_back(job);
    mailbox_->cv.notify_all();
    return job;
  }

 private:
  // Takes queued jobs into free slots; returns false when the engine stops.
  bool admit() {
    std::vector<std::shared_ptr<Job>> cancelled, admitted;
    {
      std::unique_lock lock(mailbox_->mu);
      mailbox_->cv.wait(lock, [&] { return mailbox_->stop || !mailbox_->queue.empty() || busy_ > 0; });
      if (mailbox_->stop) return false;
      auto& q = mailbox_->queue;
      for (auto it = q.begin(); it != q.end();) {
        if ((*it)->cancelled)
          cancelled.push_back(*it), it = q.erase(it);
        else
          ++it;
      }
      while (!q.empty() && busy_ + int(admitted.size()) < int(slots_.size())) {
        admitted.push_back(q.front());
        q.pop_front();
      }
    }
    for (auto& job : cancelled) job->finish(Finish::cancelled);
    for (auto& job : admitted)
      for (auto& slot : slots_)
        if (!slot.busy()) {
          if (slot.start(job, model_, options_.context)) ++busy_;
          break;
        }
    return true;
  }

  void drop_cancelled() {
    for (auto& slot : slots_)
      if (slot.busy() && slot.job()->cancelled) {
        slot.release(ctx_, Finish::cancelled);
        --busy_;
      }
  }

  void step() {
    common_batch_clear(batch_);
    int budget = options_.batch;
    for (auto& slot : slots_)  // generating slots first: one token each keeps latency flat
      if (slot.busy() && !slot.reading_prompt()) budget -= slot.add_to_batch(batch_, budget);
    for (auto& slot : slots_)
      if (slot.busy() && slot.reading_prompt()) budget -= slot.add_to_batch(batch_, budget);
    if (batch_.n_tokens == 0) return;
    if (llama_decode(ctx_, batch_) != 0) {
      for (auto& slot : slots_)
        if (slot.busy()) slot.release(ctx_, Finish::error, "llama_decode failed"), --busy_;
      return;
    }
    for (auto& slot : slots_) {
      try {
        if (slot.after_decode(ctx_, model_)) --busy_;
      } catch (const std::exception& e) {  // e.g. a grammar that can no longer advance
        slot.release(ctx_, Finish::error, std::string("sampling failed: ") + e.what());
        --busy_;
      }
    }
  }

  void loop() {
    while (admit()) {
      drop_cancelled();
      step();
    }
    for (auto& slot : slots_)
      if (slot.busy()) slot.release(ctx_, Finish::error, "engine '" + name_ + "' stopped");
    std::deque<std::shared_ptr<Job>> rest;
    {
      std::lock_guard lock(mailbox_->mu);
      rest.swap(mailbox_->queue);
    }
    for (auto& job : rest) job->finish(Finish::error, "engine '" + name_ + "' stopped");
  }

  std::string name_;
  LlamaOptions options_;
  std::shared_ptr<Mailbox> mailbox_;
  Model model_;
  llama_context* ctx_ = nullptr;
  llama_batch batch_{};
  std::vector<Slot> slots_;
  int busy_ = 0;  // loop thread only (also read in the wait predicate, on the loop thread)
  std::thread thread_;
};

}  // namespace
}  // namespace llama

std::unique_ptr<Engine> make_llama_engine(const std::string& name, const LlamaOptions& options) {
  if (options.parallel < 1 || options.context < 16 || options.batch < options.parallel)
    throw EngineError(name, "needs parallel >= 1, context >= 16 and batch >= parallel");
  return std::make_unique<llama::LlamaEngine>(name, options);
}

}  // namespace skein
