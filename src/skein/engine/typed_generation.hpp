// A typed generation (SPEC §1): a request whose output has a type, asked until the reply parses and
// validates or the attempts run out. Each retry shows the model its reply and why it was refused,
// and moves a set seed on by one (so a deterministic sampler can change course). Attempts may be
// answered from, and kept in, a reply cache. The one loop behind a chain's Step and a graph's LM
// calls.
//
// Thread safety: a coroutine on the caller's executor; it suspends on the engine and never blocks.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <optional>

#include "skein/engine.hpp"

namespace skein {

// Where attempts may be answered from (a response cache). Called on the generation's executor;
// `find` may suspend (a store across the network) but never blocks.
class ReplyCache {
 public:
  virtual ~ReplyCache() = default;
  virtual boost::asio::awaitable<std::optional<std::string>> find(const GenerateRequest& req) = 0;
  // A reply the engine finished (stop or length), valid or not: the same request gets it again.
  virtual void keep(const GenerateRequest& req, const std::string& text) = 0;
};

struct TypedOutcome {
  std::optional<Json> output;  // set when a reply was valid
  std::string raw;             // the last reply's text
  std::string reason;          // why the last reply was refused; "cancelled" when cancelled
  bool cancelled = false;
  long long prompt_tokens = 0, generated_tokens = 0;  // of every attempt
  long long cached_prompt_tokens = 0;                 // of prompt_tokens: reused by the engine
  int attempts = 0;
  int engine_calls = 0, cached = 0;       // attempts answered by the engine / by the cache
  int64_t queue_ns = 0, generate_ns = 0;  // of the engine calls: waiting for a slot, generating
};

// Asks `engine` for `req` (whose `output` type must be set) at most 1 + `retries` times.
boost::asio::awaitable<TypedOutcome> generate_typed(Engine& engine, GenerateRequest req, int retries,
                                                    ReplyCache* cache = nullptr);

// One attempt's reply taken into `out` (its tokens, its text, why it was refused): true when another
// attempt is due, `req` then carrying the refused reply and why (and its seed moved on by one).
// The step behind generate_typed and generate_typed_all.
bool take_attempt(GenerateResult r, GenerateRequest& req, TypedOutcome& out);

// An engine call's time waiting for a slot and generating, added to `out`.
void count_engine_time(const GenerateResult& r, TypedOutcome& out);

// Why `text` is not a valid value of `type` ("" when it is; then `value` holds it).
std::string why_invalid(const Type& type, const std::string& text, Json& value);

}  // namespace skein
