// One sequence slot of the decode loop: the request it serves, its sampler (with the request's
// grammar) and its progress through prompt and generation. Decode thread only, but for prepare().
#pragma once
#include <llama.h>

#include <memory>
#include <string>
#include <vector>

#include "llama_job.hpp"
#include "prefix_cache.hpp"

namespace skein::llama {

struct Model;

// Formats and tokenises the job's prompt and builds its sampler (with a copy of its type's compiled
// grammar), off the decode thread (the model's vocabulary is read-only). Returns why the request
// cannot be served, or "".
std::string prepare(Job& job, const Model& model, int context, GrammarCache& grammars);

class Slot {
 public:
  explicit Slot(int seq) : seq_(seq) {}

  bool busy() const { return job_ != nullptr; }
  const std::shared_ptr<Job>& job() const { return job_; }
  bool reading_prompt() const { return prompt_done_ < prompt_.size(); }
  const std::vector<llama_token>& prompt() const { return prompt_; }
  int seq() const { return seq_; }

  // Takes a prepared job; its prompt's first `from.length` tokens (but the last) come from the
  // prefix cache's entry `from.seq` instead of being computed.
  void start(std::shared_ptr<Job> job, llama_context* ctx, int context, PrefixCache::Match from);

  // Adds this slot's tokens for the next decode step, at most `budget` of them.
  // Returns the number added.
  int add_to_batch(llama_batch& batch, int budget);
  // Whether the batch just built holds the prompt's last token (its KV is whole after the decode).
  bool completes_prompt() const { return completes_prompt_; }

  // After a decode step: samples from this slot's logits if it asked for any, and finishes the job
  // when it is complete. Returns true if the slot became free.
  bool after_decode(llama_context* ctx, const Model& model, GrammarClock& clock);

  // Finishes the job (cancelled, error, engine stop) and frees the slot's sequence.
  void release(llama_context* ctx, Finish how, std::string error = {});

 private:
  bool append(llama_token token, const Model& model);
  int seq_;
  std::shared_ptr<Job> job_;
  std::unique_ptr<Sampler> sampler_;
  std::vector<llama_token> prompt_;
  size_t prompt_done_ = 0;
  int pos_ = 0;
  int max_tokens_ = 0;
  int batch_index_ = -1;
  bool completes_prompt_ = false;
  llama_token next_ = -1;  // sampled, to be decoded next step
};

}  // namespace skein::llama
