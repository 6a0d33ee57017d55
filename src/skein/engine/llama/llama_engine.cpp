// The llama engine's decode loop: continuous batching over a fixed set of slots.
//
// One thread owns the llama_context. Callers only touch the mailbox (queues + stop flag) and their
// job's cancel flag. A prepare thread tokenises each submitted job and builds its sampler; the
// decode loop takes prepared jobs into free slots (each starting from the longest prefix the cache
// holds), drops cancelled ones, decodes one batch for all busy slots, keeps each prompt just
// decoded in the cache and samples each slot's next token. A decode whose requests have all been
// cancelled is abandoned between two of its graph's operations (llama.cpp's abort callback): the
// cancel of the last request in a step does not wait for the step to end (one of several does).
#include "skein/llama_engine.hpp"

#include <common.h>

#include <atomic>
#include <thread>

#include "model.hpp"
#include "prefix_cache.hpp"
#include "slot.hpp"

namespace skein {
namespace llama {
namespace {

// Prefix-cache sizing: sequence ids for its entries, and the least shared prefix worth waiting for.
constexpr int kCacheSeqs = 32;
constexpr size_t kWorthWaiting = 32;
// Queued jobs looked at per admission beyond the free slots (those waiting for a prefix are skipped).
constexpr size_t kLookahead = 64;

class LlamaEngine final : public Engine {
 public:
  LlamaEngine(std::string name, const LlamaOptions& options)
      : name_(std::move(name)), options_(options), mailbox_(std::make_shared<Mailbox>()) {
    model_ = load_model(name_, options.model_path);
    const bool cache = options.prefix_cache && shares_prefixes(model_.model);
    const int cache_cells = options.prefix_cache_cells > 0 ? options.prefix_cache_cells : options.context;
    const int cache_seqs = std::min(kCacheSeqs, int(llama_max_parallel_sequences()) - options.parallel);
    llama_context_params params = llama_context_default_params();
    // With the cache, one KV pool for every sequence (seq_cp then shares cells): the slots' cells
    // plus the cache's own. Without, a stream per slot, as llama.cpp's server does by default.
    params.kv_unified = cache && cache_seqs >= 2;
    params.n_seq_max = uint32_t(options.parallel + (params.kv_unified ? cache_seqs : 0));
    params.n_ctx = uint32_t(options.parallel * options.context + (params.kv_unified ? cache_cells : 0));
    params.n_batch = uint32_t(options.batch);
    params.n_ubatch = uint32_t(std::min(options.batch, 512));
    const int threads = options.threads > 0 ? options.threads : int(std::thread::hardware_concurrency());
    params.n_threads = params.n_threads_batch = threads;
    params.no_perf = true;
    ctx_ = llama_init_from_model(model_.model, params);
    if (!ctx_) {
      free_model(model_);
      throw EngineError(name_, "cannot create a llama.cpp context for " + options.model_path);
    }
    if (params.kv_unified) cache_ = std::make_unique<PrefixCache>(ctx_, options.parallel, cache_seqs, cache_cells);
    grammars_ = std::make_unique<GrammarCache>(model_.vocab);
    for (int i = 0; i < options.parallel; ++i) slots_.emplace_back(i);
    batch_ = llama_batch_init(options.batch, 0, 1);
    llama_set_abort_callback(ctx_, &all_cancelled, &in_step_);
    prepare_thread_ = std::thread([this] { prepare_loop(); });
    thread_ = std::thread([this] { loop(); });
  }

  ~LlamaEngine() override {
    {
      std::lock_guard lock(mailbox_->mu);
      mailbox_->stop = true;
      mailbox_->cv.notify_all();
      mailbox_->prepare_cv.notify_all();
    }
    prepare_thread_.join();
    thread_.join();
    grammars_.reset();
    llama_batch_free(batch_);
    llama_free(ctx_);
    free_model(model_);
  }

  const std::string& name() const override { return name_; }

  Json stats() const override {
    Json cache = {{"on", cache_ != nullptr},
                  {"prompt_tokens", prompt_tokens_.load()},
                  {"reused_prompt_tokens", reused_tokens_.load()}};
    return {{"prefix_cache", cache},
            {"grammar_per_token", grammar_clock_.quantiles()},
            {"decode_steps", steps_.load()},
            {"abandoned_decode_steps", abandoned_.load()}};
  }

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
    mailbox_->incoming.push_back(job);
    mailbox_->prepare_cv.notify_one();
    return job;
  }

 private:
  // Whether the model's memory can drop part of a sequence and share cells (not a recurrent or
  // hybrid model, nor a sliding window one).
  static bool shares_prefixes(const llama_model* m) {
    return !llama_model_is_recurrent(m) && !llama_model_is_hybrid(m) && llama_model_n_swa(m) == 0;
  }

  // llama.cpp's abort callback, called between the operations of a decode: whether every request
  // with tokens in it (`data`: their cancel flags) has been cancelled.
  static bool all_cancelled(void* data) {
    const auto& flags = *static_cast<const std::vector<const std::atomic<bool>*>*>(data);
    for (const auto* flag : flags)
      if (!flag->load(std::memory_order_relaxed)) return false;
    if (flags.empty()) return false;
    quiet_llama_errors(true);  // ggml asks on the thread that called llama_decode: step() resets it
    return true;
  }

  // The prepare thread: submitted jobs tokenised and given their sampler, then queued for a slot.
  void prepare_loop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(mailbox_->mu);
        mailbox_->prepare_cv.wait(lock, [&] { return mailbox_->stop || !mailbox_->incoming.empty(); });
        if (mailbox_->stop) break;
        job = std::move(mailbox_->incoming.front());
        mailbox_->incoming.pop_front();
      }
      if (job->cancelled) {
        job->finish(Finish::cancelled);
        continue;
      }
      if (const std::string error = prepare(*job, model_, options_.context, *grammars_); !error.empty()) {
        job->finish(Finish::error, error);
        continue;
      }
      std::unique_lock lock(mailbox_->mu);
      if (mailbox_->stop) {
        lock.unlock();
        job->finish(Finish::error, "engine '" + name_ + "' stopped");
        break;
      }
      mailbox_->queue.push_back(std::move(job));
      mailbox_->cv.notify_all();
    }
    std::deque<std::shared_ptr<Job>> rest;
    {
      std::lock_guard lock(mailbox_->mu);
      rest.swap(mailbox_->incoming);
    }
    for (auto& job : rest) job->finish(Finish::error, "engine '" + name_ + "' stopped");
  }

  // Whether `job` had better wait: a prompt being prefilled (or admitted with it) shares a longer
  // prefix with it than the cache holds, and the cache will hold it once that prompt is decoded.
  // The comparison with the cache and the slots is remembered until either changes: admit() looks
  // at every waiting job on every step.
  bool should_wait(Job& job, const std::vector<std::shared_ptr<Job>>& admitted) {
    if (!cache_) return false;
    auto& memo = job.wait_memo;
    auto coming_from = [&](const std::vector<llama_token>& other) {
      return std::min(common_prefix(other, job.prompt), cache_->keepable(other.size()));
    };
    if (memo.cache != cache_->version() || memo.reading != reading_version_) {
      const size_t cached =
          memo.cache == cache_->version() ? memo.cached : size_t(cache_->find(job.prompt, false).length);
      size_t coming = 0;
      for (const auto& slot : slots_)
        if (slot.busy() && slot.reading_prompt()) coming = std::max(coming, coming_from(slot.prompt()));
      memo = {cache_->version(), reading_version_, cached, coming >= cached + kWorthWaiting};
    }
    if (memo.wait) return true;
    for (const auto& other : admitted)  // prompts starting this step
      if (coming_from(other->prompt) >= memo.cached + kWorthWaiting) return true;
    return false;
  }

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
      const size_t free = slots_.size() - size_t(busy_);
      size_t looked = 0;
      for (auto it = q.begin(); it != q.end() && admitted.size() < free && looked < free + kLookahead; ++looked) {
        if (should_wait(**it, admitted)) {
          ++it;
          continue;
        }
        admitted.push_back(std::move(*it));
        it = q.erase(it);
      }
    }
    for (auto& job : cancelled) job->finish(Finish::cancelled);
    for (auto& job : admitted)
      for (auto& slot : slots_)
        if (!slot.busy()) {
          const PrefixCache::Match from = cache_ ? cache_->find(job->prompt) : PrefixCache::Match{};
          slot.start(std::move(job), ctx_, options_.context, from);
          prompt_tokens_ += slot.job()->result.prompt_tokens;
          reused_tokens_ += slot.job()->result.cached_prompt_tokens;
          ++busy_, ++reading_version_;
          break;
        }
    return true;
  }

  void drop_cancelled() {
    for (auto& slot : slots_)
      if (slot.busy() && slot.job()->cancelled) {
        slot.release(ctx_, Finish::cancelled);
        --busy_, ++reading_version_;
      }
  }

  // Adds `slot`'s tokens to the batch being built and notes its cancel flag if it has any there.
  void add(Slot& slot, int& budget) {
    const int added = slot.add_to_batch(batch_, budget);
    budget -= added;
    if (added > 0) in_step_.push_back(&slot.job()->cancelled);
  }

  void step() {
    common_batch_clear(batch_);
    in_step_.clear();
    int budget = options_.batch;
    for (auto& slot : slots_)  // generating slots first: one token each keeps latency flat
      if (slot.busy() && !slot.reading_prompt()) add(slot, budget);
    for (auto& slot : slots_)
      if (slot.busy() && slot.reading_prompt()) add(slot, budget);
    if (batch_.n_tokens == 0) return;
    ++steps_;
    const int status = llama_decode(ctx_, batch_);
    in_step_.clear();
    quiet_llama_errors(false);
    if (status == 2) {  // abandoned: every request in it was cancelled (their slots are let go)
      ++abandoned_;
      drop_cancelled();
      return;
    }
    if (status != 0) {
      for (auto& slot : slots_)
        if (slot.busy()) slot.release(ctx_, Finish::error, "llama_decode failed"), --busy_, ++reading_version_;
      return;
    }
    for (auto& slot : slots_) {
      if (slot.busy() && slot.completes_prompt()) {
        if (cache_) cache_->keep(slot.prompt(), slot.seq());
        ++reading_version_;
      }
      try {
        if (slot.after_decode(ctx_, model_, grammar_clock_)) --busy_, ++reading_version_;
      } catch (const std::exception& e) {  // e.g. a grammar that can no longer advance
        slot.release(ctx_, Finish::error, std::string("sampling failed: ") + e.what());
        --busy_, ++reading_version_;
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
  // Loop thread, read by the abort callback during a decode: the cancel flags of the requests
  // with tokens in the decode under way.
  std::vector<const std::atomic<bool>*> in_step_;
  std::vector<Slot> slots_;
  std::unique_ptr<PrefixCache> cache_;      // decode thread only; null when off
  std::unique_ptr<GrammarCache> grammars_;  // prepare thread only
  GrammarClock grammar_clock_;
  std::atomic<long long> prompt_tokens_ = 0, reused_tokens_ = 0;  // of the requests started
  std::atomic<long long> steps_ = 0, abandoned_ = 0;              // decode steps started, and given up part-way
  int busy_ = 0;                  // loop thread only (also read in the wait predicate, on the loop thread)
  uint64_t reading_version_ = 0;  // loop thread only: changes whenever a slot starts, ends or ends its prompt
  std::thread prepare_thread_;
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
