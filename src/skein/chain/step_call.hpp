// One Step applied to one record's history: rendered, then generated under its output type by
// generate_typed (validated, retried with the reason), from the response cache when it has one.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <optional>

#include "engine/typed_generation.hpp"
#include "response_cache.hpp"
#include "skein/chain.hpp"

namespace skein {

using StepOutcome = TypedOutcome;  // its output, or the reason it has none

// The response cache a Step consults, and the identity of its engine's model (none: no cache).
struct CacheUse {
  ResponseStore* cache = nullptr;
  std::string model_id;
};

// The chat messages a Step sends for `history` (system prompt + schema instruction, user prompt).
// Throws TemplateError.
std::vector<ChatMessage> step_messages(const Step& step, const Json& history);

boost::asio::awaitable<StepOutcome> call_step(const Step& step, Engine& engine, const Json& history,
                                              const CacheUse& cache);

}  // namespace skein
