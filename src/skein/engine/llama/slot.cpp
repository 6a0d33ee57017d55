#include "slot.hpp"

#include <common.h>

#include <cmath>

#include "model.hpp"

namespace skein::llama {
namespace {

common_params_sampling sampling_params(const GenerateRequest& req, const Model& model) {
  common_params_sampling p;
  const Sampling& s = req.sampling;
  p.temp = s.temperature;
  p.top_k = s.top_k;
  p.top_p = s.top_p;
  p.min_p = 0.0f;
  p.seed = s.seed ? *s.seed : LLAMA_DEFAULT_SEED;
  // Only the samplers this request uses: each one is a pass over the whole vocabulary per token.
  p.samplers.clear();
  if (s.temperature <= 0) {
    p.top_k = 1;  // greedy: one O(n) selection
    p.samplers.push_back(COMMON_SAMPLER_TYPE_TOP_K);
  } else {
    if (s.top_k > 0) p.samplers.push_back(COMMON_SAMPLER_TYPE_TOP_K);
    if (s.top_p < 1.0f) p.samplers.push_back(COMMON_SAMPLER_TYPE_TOP_P);
    p.samplers.push_back(COMMON_SAMPLER_TYPE_TEMPERATURE);
  }
  p.no_perf = true;
  if (req.output) p.grammar = common_grammar(COMMON_GRAMMAR_TYPE_USER, req.output->grammar());
  if (s.ignore_eos && !req.output)  // under a grammar, the end of the value must stay reachable
    for (llama_token t : model.eog) p.logit_bias.push_back({t, -INFINITY});
  return p;
}

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

bool Slot::start(std::shared_ptr<Job> job, const Model& model, int context) {
  job_ = std::move(job);
  job_->result.started_ns = now_ns();
  try {
    prompt_ = common_tokenize(model.vocab, model.format(job_->request.messages), true, true);
    if (int(prompt_.size()) + 1 >= context) {
      release(nullptr, Finish::error,
              "prompt of " + std::to_string(prompt_.size()) + " tokens does not fit the slot context of " +
                  std::to_string(context));
      return false;
    }
    common_params_sampling params = sampling_params(job_->request, model);
    sampler_.reset(common_sampler_init(model.model, params));
    if (!sampler_) {
      release(nullptr, Finish::error, "the output type's grammar was refused by llama.cpp");
      return false;
    }
  } catch (const std::exception& e) {
    release(nullptr, Finish::error, e.what());
    return false;
  }
  job_->result.prompt_tokens = int(prompt_.size());
  max_tokens_ = std::min(job_->request.sampling.max_tokens, context - int(prompt_.size()) - 1);
  prompt_done_ = 0;
  pos_ = 0;
  next_ = -1;
  return true;
}

int Slot::add_to_batch(llama_batch& batch, int budget) {
  batch_index_ = -1;
  if (!busy() || budget <= 0) return 0;
  if (prompt_done_ < prompt_.size()) {
    const int n = int(std::min<size_t>(size_t(budget), prompt_.size() - prompt_done_));
    for (int i = 0; i < n; ++i) {
      const bool last = prompt_done_ + 1 == prompt_.size();
      if (last) batch_index_ = batch.n_tokens;
      common_batch_add(batch, prompt_[prompt_done_++], pos_++, {seq_}, last);
    }
    return n;
  }
  batch_index_ = batch.n_tokens;
  common_batch_add(batch, next_, pos_++, {seq_}, true);
  return 1;
}

bool Slot::after_decode(llama_context* ctx, const Model& model) {
  if (!busy() || batch_index_ < 0) return false;
  const llama_token token = common_sampler_sample(sampler_.get(), ctx, batch_index_);
  common_sampler_accept(sampler_.get(), token, true);
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
