// One sequence slot of the decode loop: the request it serves, its sampler (with the request's
// grammar) and its progress through prompt and generation.
#pragma once
#include <llama.h>
#include <sampling.h>

#include <memory>
#include <string>
#include <vector>

#include "llama_job.hpp"

namespace skein::llama {

struct Model;

class Slot {
 public:
  explicit Slot(int seq) : seq_(seq) {}

  bool busy() const { return job_ != nullptr; }
  const std::shared_ptr<Job>& job() const { return job_; }
  bool reading_prompt() const { return prompt_done_ < prompt_.size(); }

  // Takes a job: formats and tokenizes its prompt and builds its sampler. Returns false (having
  // finished the job with an error) when the request cannot be served.
  bool start(std::shared_ptr<Job> job, const Model& model, int context);

  // Adds this slot's tokens for the next decode step, at most `budget` of them.
  // Returns the number added.
  int add_to_batch(llama_batch& batch, int budget);

  // After a decode step: samples from this slot's logits if it asked for any, and finishes the job
  // when it is complete. Returns true if the slot became free.
  bool after_decode(llama_context* ctx, const Model& model);

  // Finishes the job (cancelled, error, engine stop) and frees the slot's sequence.
  void release(llama_context* ctx, Finish how, std::string error = {});

 private:
  bool append(llama_token token, const Model& model);
  int seq_;
  std::shared_ptr<Job> job_;
  std::unique_ptr<common_sampler, common_sampler_deleter> sampler_;
  std::vector<llama_token> prompt_;
  size_t prompt_done_ = 0;
  int pos_ = 0;
  int max_tokens_ = 0;
  int batch_index_ = -1;
  llama_token next_ = -1;  // sampled, to be decoded next step
};

}  // namespace skein::llama
