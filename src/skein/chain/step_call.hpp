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

// One record's outcome. Throws nothing for a template error: that is the outcome's reason.
boost::asio::awaitable<StepOutcome> call_step(const Step& step, Engine& engine, const Json& history,
                                              const CacheUse& cache);

// Every record's outcome, in the order of `histories`, all in flight at once: without a cache by
// generate_typed_all (no coroutine per record), with one by call_step per record (concurrently).
// A cancellation is rethrown, as operation_aborted, once every request has completed.
boost::asio::awaitable<std::vector<StepOutcome>> call_steps(const Step& step, Engine& engine,
                                                            const std::vector<const Json*>& histories,
                                                            const CacheUse& cache);

// Adds a record's outcome to its node's counts: one in, its tokens, calls and times (not whether
// it came out: the caller counts that).
void count_outcome(const StepOutcome& o, NodeCounts& counts);

}  // namespace skein
