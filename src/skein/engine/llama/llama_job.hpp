// A request inside the llama engine, and the wake-up channel it shares with the decode loop.
#pragma once
#include <llama.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "sampler.hpp"
#include "skein/engine.hpp"

namespace skein::llama {

struct Job;

// Shared by the engine and its jobs, so a job cancelled after the engine is gone touches nothing
// freed.
struct Mailbox {
  std::mutex mu;
  std::condition_variable cv;                 // the decode loop's
  std::condition_variable prepare_cv;         // the prepare thread's
  std::deque<std::shared_ptr<Job>> incoming;  // submitted, to be prepared, FIFO
  std::deque<std::shared_ptr<Job>> queue;     // prepared, waiting for a slot, FIFO
  bool stop = false;
};

struct Job : PendingRequest {
  GenerateRequest request;
  std::function<void(GenerateResult)> done;
  GenerateResult result;
  // Set on the prepare thread, then the decode thread's: the prompt's tokens and its sampler.
  std::vector<llama_token> prompt;
  std::unique_ptr<Sampler> sampler;
  // Decode thread only: whether it waits for a prefix being prefilled, as of these versions of the
  // prefix cache and of the slots reading prompts (recomputed only when one changes).
  struct {
    uint64_t cache = ~0ull, reading = ~0ull;
    size_t cached = 0;  // tokens of its prompt the cache holds
    bool wait = false;
  } wait_memo;
  std::atomic<bool> cancelled{false};
  std::shared_ptr<Mailbox> mailbox;

  void cancel() override {
    cancelled.store(true);
    std::lock_guard lock(mailbox->mu);
    mailbox->cv.notify_all();
  }

  // Completes the request; call once.
  void finish(Finish how, std::string error = {}) {
    sampler.reset();  // on an engine thread, before the engine (and its model) may be gone
    prompt.clear();
    result.finish = how;
    result.error = std::move(error);
    result.finished_ns = now_ns();
    auto callback = std::move(done);
    callback(std::move(result));
  }
};

}  // namespace skein::llama
