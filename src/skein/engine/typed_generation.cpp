#include "typed_generation.hpp"

#include <boost/asio/use_awaitable.hpp>

#include "util/parse_json.hpp"

namespace skein {

namespace {

// One attempt: from the cache when it holds the request, else from the engine (then kept).
boost::asio::awaitable<GenerateResult> attempt(Engine& engine, const GenerateRequest& req, ReplyCache* cache,
                                               TypedOutcome& out) {
  if (cache)
    if (std::optional<std::string> text = co_await cache->find(req)) {
      ++out.cached;
      GenerateResult r;
      r.text = std::move(*text);
      r.finish = Finish::stop;
      co_return r;
    }
  ++out.engine_calls;
  GenerateResult r = co_await async_generate(engine, req, boost::asio::use_awaitable);
  count_engine_time(r, out);
  if (cache && (r.finish == Finish::stop || r.finish == Finish::length)) cache->keep(req, r.text);
  co_return r;
}

}  // namespace

void count_engine_time(const GenerateResult& r, TypedOutcome& out) {
  if (r.started_ns) out.queue_ns += r.started_ns - r.queued_ns;
  if (r.finished_ns && r.started_ns) out.generate_ns += r.finished_ns - r.started_ns;
}

bool take_attempt(GenerateResult r, GenerateRequest& req, TypedOutcome& out) {
  out.prompt_tokens += r.prompt_tokens;
  out.cached_prompt_tokens += r.cached_prompt_tokens;
  out.generated_tokens += r.generated_tokens;
  out.raw = std::move(r.text);
  if (r.finish == Finish::cancelled) {
    out.cancelled = true;
    out.reason = "cancelled";
    return false;
  }
  if (r.finish == Finish::error) {
    out.reason = "engine error: " + r.error;
    return true;
  }
  Json value;
  out.reason = why_invalid(*req.output, out.raw, value);
  if (out.reason.empty()) {
    out.output = std::move(value);
    return false;
  }
  req.messages.push_back({"assistant", out.raw});
  req.messages.push_back({"user", "That reply is invalid: " + out.reason + ". Reply again with JSON only."});
  if (req.sampling.seed) req.sampling.seed = *req.sampling.seed + 1;
  return true;
}

std::string why_invalid(const Type& type, const std::string& text, Json& value) {
  try {
    value = parse_json(text);
  } catch (const Json::exception& e) {
    return std::string("not valid JSON: ") + e.what();
  }
  return type.why_invalid(value);
}

boost::asio::awaitable<TypedOutcome> generate_typed(Engine& engine, GenerateRequest req, int retries,
                                                    ReplyCache* cache) {
  TypedOutcome out;
  for (int n = 0; n <= retries; ++n) {
    ++out.attempts;
    GenerateResult r =
        co_await attempt(engine, req, cache, out);  // named: GCC 12 may destroy a temporary of a co_await twice
    if (!take_attempt(std::move(r), req, out)) break;
  }
  co_return out;
}

}  // namespace skein
