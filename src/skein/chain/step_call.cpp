#include "step_call.hpp"

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
  const std::string instruction = step.instruction ? *step.instruction : step.output->instruction();
  system += (system.empty() ? "" : "\n\n") + instruction;
  return {{"system", system}, {"user", step.user->render(history)}};
}

boost::asio::awaitable<StepOutcome> call_step(const Step& step, Engine& engine, const Json& history,
                                              const CacheUse& cache) {
  StepOutcome out;
  GenerateRequest req;
  try {
    req.messages = step_messages(step, history);
  } catch (const TemplateError& e) {
    out.reason = std::string("step '") + step.id + "' " + e.what();
    co_return out;
  }
  req.output = step.output;
  req.sampling = step.sampling;
  StepCache cached(cache);
  co_return co_await generate_typed(engine, std::move(req), step.retries, cache.cache ? &cached : nullptr);
}

}  // namespace skein
