#include "slot.hpp"

#include <common.h>

#include <cmath>

#include "model.hpp"

namespace skein::llama {
namespace {

// Where the first stop string begins in `text`, searching only what the last piece could complete.
size_t find_stop(const std::string& text, size_t piece, const std::vector<std::string>& stops) {
  size_t best = std::string::npos;
  for (const auto& stop : stops) {
    if (stop.empty()) continue;
    const size_t from = text.size() > piece + stop.size() ? text.size() - piece - stop.size() : 0;
    best = std::min(best, text.find(stop, from));
  }
  return best;
}

}  // namespace

std::string prepare(Job& job, const Model& model, int context, GrammarCache& grammars) {
  try {
    job.prompt = common_tokenize(model.vocab, model.format(job.request.messages), true, true);
    if (int(job.prompt.size()) + 1 >= context)
      return "prompt of " + std::to_string(job.prompt.size()) + " tokens does not fit the slot context of " +
             std::to_string(context);
    std::unique_ptr<Grammar> grammar;
    if (job.request.output && !(grammar = grammars.copy(job.request.output->grammar())))
      return "the output type's grammar was refused by llama.cpp";
    job.sampler = std::make_unique<Sampler>(job.request, model, std::move(grammar));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void Slot::start(std::shared_ptr<Job> job, llama_context* ctx, int context, PrefixCache::Match from) {
  job_ = std::move(job);
  job_->result.started_ns = now_ns();
  prompt_ = std::move(job_->prompt);
  sampler_ = std::move(job_->sampler);
  job_->result.prompt_tokens = int(prompt_.size());
  max_tokens_ = std::min(job_->request.sampling.max_tokens, context - int(prompt_.size()) - 1);
  // At least the last prompt token is decoded: its logits give the first output token.
  const int reused = from.seq < 0 ? 0 : std::min(from.length, int(prompt_.size()) - 1);
  if (reused > 0) llama_memory_seq_cp(llama_get_memory(ctx), from.seq, seq_, 0, reused);
  job_->result.cached_prompt_tokens = reused;
  prompt_done_ = size_t(reused);
  pos_ = reused;
  next_ = -1;
}

int Slot::add_to_batch(llama_batch& batch, int budget) {
  batch_index_ = -1;
  completes_prompt_ = false;
  if (!busy() || budget <= 0) return 0;
  if (prompt_done_ < prompt_.size()) {
    const int n = int(std::min<size_t>(size_t(budget), prompt_.size() - prompt_done_));
    for (int i = 0; i < n; ++i) {
      const bool last = prompt_done_ + 1 == prompt_.size();
      if (last) batch_index_ = batch.n_tokens, completes_prompt_ = true;
      common_batch_add(batch, prompt_[prompt_done_++], pos_++, {seq_}, last);
    }
    return n;
  }
  batch_index_ = batch.n_tokens;
  common_batch_add(batch, next_, pos_++, {seq_}, true);
  return 1;
}

bool Slot::after_decode(llama_context* ctx, const Model& model, GrammarClock& clock) {
  if (!busy() || batch_index_ < 0) return false;
  const llama_token token = sampler_->sample(ctx, batch_index_);
  sampler_->accept(token, clock);
  if (!append(token, model)) return false;
  release(ctx, job_->result.finish);
  return true;
}

// Returns true when generation is complete (result.finish set).
bool Slot::append(llama_token token, const Model& model) {
  GenerateResult& r = job_->result;
  if (r.generated_tokens == 0) r.first_token_ns = now_ns();
  if (llama_vocab_is_eog(model.vocab, token)) {
    r.finish = Finish::stop;
    return true;
  }
  ++r.generated_tokens;
  const std::string piece = common_token_to_piece(model.vocab, token, false);
  r.text += piece;
  if (job_->request.on_token) {
    try {
      job_->request.on_token(piece);
    } catch (...) {  // a caller's hook must not take the decode loop down
    }
  }
  const size_t stop = find_stop(r.text, piece.size(), job_->request.sampling.stop);
  if (stop != std::string::npos) {
    r.text.resize(stop);
    r.finish = Finish::stop;
    return true;
  }
  if (r.generated_tokens >= max_tokens_) {
    r.finish = Finish::length;
    return true;
  }
  next_ = token;
  return false;
}

void Slot::release(llama_context* ctx, Finish how, std::string error) {
  if (ctx) llama_memory_seq_rm(llama_get_memory(ctx), seq_, -1, -1);
  sampler_.reset();
  prompt_.clear();
  batch_index_ = -1;
  auto job = std::move(job_);
  job_ = nullptr;
  job->finish(how, std::move(error));
}

}  // namespace skein::llama
