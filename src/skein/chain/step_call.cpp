#include "step_call.hpp"

#include "engine/typed_batch.hpp"
#include "gather.hpp"

namespace skein {
namespace {

// The response cache as a typed generation's reply cache, keyed by the engine's model.
class StepCache : public ReplyCache {
 public:
  explicit StepCache(const CacheUse& use) : use_(use) {}
  boost::asio::awaitable<std::optional<std::string>> find(const GenerateRequest& req) override {
    std::optional<std::string> key = ResponseCache::key(use_.model_id, req);  // none: not cacheable
    if (!key) co_return std::nullopt;
    co_return co_await use_.cache->lookup(std::move(*key));
  }
  void keep(const GenerateRequest& req, const std::string& text) override {
    if (std::optional<std::string> key = ResponseCache::key(use_.model_id, req))
      use_.cache->keep(std::move(*key), text);
  }

 private:
  const CacheUse& use_;
};

}  // namespace

std::vector<ChatMessage> step_messages(const Step& step, const Json& history) {
  std::string system = step.system ? step.system->render(history) : "";
  if (!system.empty()) system += "\n\n";
  system += step.instruction ? *step.instruction : step.output->instruction();
  return {{"system", std::move(system)}, {"user", step.user->render(history)}};
}

namespace {

// The request a Step sends for `history`; false, with the reason in `out`, when its templates fail.
bool step_request(const Step& step, const Json& history, GenerateRequest& req, StepOutcome& out) {
  try {
    req.messages = step_messages(step, history);
  } catch (const TemplateError& e) {
    out.reason = std::string("step '") + step.id + "' " + e.what();
    return false;
  }
  req.output = step.output;
  req.sampling = step.sampling;
  return true;
}

}  // namespace

boost::asio::awaitable<StepOutcome> call_step(const Step& step, Engine& engine, const Json& history,
                                              const CacheUse& cache) {
  StepOutcome out;
  GenerateRequest req;
  if (!step_request(step, history, req, out)) co_return out;
  StepCache cached(cache);
  co_return co_await generate_typed(engine, std::move(req), step.retries, cache.cache ? &cached : nullptr);
}

boost::asio::awaitable<std::vector<StepOutcome>> call_steps(const Step& step, Engine& engine,
                                                            const std::vector<const Json*>& histories,
                                                            const CacheUse& cache) {
  std::vector<StepOutcome> outcomes(histories.size());
  if (cache.cache) {
    co_await gather(histories.size(), [&](size_t i) -> boost::asio::awaitable<void> {
      outcomes[i] = co_await call_step(step, engine, *histories[i], cache);
    });
    co_return outcomes;
  }
  std::vector<GenerateRequest> reqs;
  std::vector<size_t> asked;  // the records whose request rendered, in the order of reqs
  reqs.reserve(histories.size());
  asked.reserve(histories.size());
  for (size_t i = 0; i < histories.size(); ++i) {
    GenerateRequest req;
    if (!step_request(step, *histories[i], req, outcomes[i])) continue;
    reqs.push_back(std::move(req));
    asked.push_back(i);
  }
  std::vector<TypedOutcome> got = co_await generate_typed_all(engine, std::move(reqs), step.retries);
  for (size_t k = 0; k < asked.size(); ++k) outcomes[asked[k]] = std::move(got[k]);
  co_return outcomes;
}

void count_outcome(const StepOutcome& o, NodeCounts& counts) {
  ++counts.in;
  counts.prompt_tokens += o.prompt_tokens;
  counts.cached_prompt_tokens += o.cached_prompt_tokens;
  counts.generated_tokens += o.generated_tokens;
  counts.engine_calls += o.engine_calls;
  counts.cached += o.cached;
  counts.queue_ns += o.queue_ns;
  counts.generate_ns += o.generate_ns;
}

}  // namespace skein
