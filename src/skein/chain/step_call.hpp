// One Step applied to one record's history: render, generate under the output type, validate,
// retry with the validation error, and give either the output or the reason it failed.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <optional>

#include "response_cache.hpp"
#include "skein/chain.hpp"

namespace skein {

struct StepOutcome {
  std::optional<Json> output;  // set on success
  std::string raw;             // the last raw text generated
  std::string reason;          // why it failed
  long long prompt_tokens = 0, generated_tokens = 0;
  int attempts = 0;
  int engine_calls = 0, cached = 0;       // attempts answered by the engine / by the response cache
  int64_t queue_ns = 0, generate_ns = 0;  // of the engine calls: waiting for a slot, generating
};

// The response cache a Step consults, and the identity of its engine's model (none: no cache).
struct CacheUse {
  ResponseCache* cache = nullptr;
  std::string model_id;
};

// The chat messages a Step sends for `history` (system prompt + schema instruction, user prompt).
// Throws TemplateError.
std::vector<ChatMessage> step_messages(const Step& step, const Json& history);

boost::asio::awaitable<StepOutcome> call_step(const Step& step, Engine& engine, const Json& history,
                                              const CacheUse& cache);

}  // namespace skein
