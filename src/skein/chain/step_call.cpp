#include "step_call.hpp"

#include <boost/asio/use_awaitable.hpp>

namespace skein {
namespace {

// Parses and validates generated text; returns the reason it is not a valid output, or "".
std::string check_output(const Type& type, const std::string& text, Json& value) {
  try {
    value = Json::parse(text);
  } catch (const Json::parse_error& e) {
    return std::string("not valid JSON: ") + e.what();
  }
  const auto errors = type.validate(value);
  std::string reason;
  for (const auto& e : errors) reason += (reason.empty() ? "" : "; ") + e;
  return reason;
}

// One attempt: from the cache when it holds the request, else from the engine (and then cached).
boost::asio::awaitable<GenerateResult> generate(Engine& engine, const GenerateRequest& req, const CacheUse& cache,
                                                StepOutcome& out) {
  std::optional<std::string> key;
  if (cache.cache) key = ResponseCache::key(cache.model_id, req);
  if (key)
    if (std::optional<std::string> text = cache.cache->get(*key)) {
      ++out.cached;
      GenerateResult r;
      r.text = std::move(*text);
      r.finish = Finish::stop;
      co_return r;
    }
  ++out.engine_calls;
  GenerateResult r = co_await async_generate(engine, req, boost::asio::use_awaitable);
  if (r.started_ns) out.queue_ns += r.started_ns - r.queued_ns;
  if (r.finished_ns && r.started_ns) out.generate_ns += r.finished_ns - r.started_ns;
  if (key && (r.finish == Finish::stop || r.finish == Finish::length)) cache.cache->put(*key, r.text);
  co_return r;
}

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
  for (int attempt = 0; attempt <= step.retries; ++attempt) {
    ++out.attempts;
    GenerateResult r = co_await generate(engine, req, cache, out);
    out.prompt_tokens += r.prompt_tokens;
    out.generated_tokens += r.generated_tokens;
    out.raw = r.text;
    if (r.finish == Finish::cancelled) {
      out.reason = "cancelled";
      co_return out;
    }
    if (r.finish == Finish::error) {
      out.reason = "engine error: " + r.error;
      continue;
    }
    Json value;
    out.reason = check_output(*step.output, r.text, value);
    if (out.reason.empty()) {
      out.output = std::move(value);
      co_return out;
    }
    // Tell the model what was wrong; vary the seed so a deterministic sampler can change course.
    req.messages.push_back({"assistant", r.text});
    req.messages.push_back({"user", "That reply is invalid: " + out.reason + ". Reply again with JSON only."});
    if (req.sampling.seed) req.sampling.seed = *req.sampling.seed + 1;
  }
  co_return out;
}

}  // namespace skein
