// The engine interface: one request = chat messages (+ an optional output type) -> text.
//
// Engines own their compute threads. `submit` never blocks on generation; the callback runs
// exactly once, on an engine thread, with the result (also for cancelled and failed requests).
// `async_generate` adapts this to Boost.Asio: the completion runs on the caller's executor and an
// Asio cancellation (e.g. a cancelled coroutine) cancels the request in the engine.
#pragma once
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/cross_thread_completion.hpp"
#include "skein/json.hpp"
#include "skein/schema.hpp"

namespace skein {

struct Sampling {
  float temperature = 0.8f;  // <= 0: greedy
  float top_p = 1.0f;        // 1: off
  int top_k = 0;             // 0: off
  int max_tokens = 256;
  std::vector<std::string> stop;  // generation ends before the first of these strings
  std::optional<uint32_t> seed;   // unset: a random seed
  bool ignore_eos = false;        // benchmarks: generate exactly max_tokens (ignored with an output type)
};

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

struct GenerateRequest {
  std::vector<ChatMessage> messages;
  TypePtr output;  // when set, generation is constrained to this type where the engine can
  Sampling sampling;
  // Optional streaming hook, called on an engine thread with each generated piece of text.
  std::function<void(const std::string& piece)> on_token;
};

enum class Finish { stop, length, cancelled, error };
const char* to_string(Finish f);
template <>
struct EnumCount<Finish> {
  static constexpr int value = 4;
};

struct GenerateResult {
  std::string text;
  Finish finish = Finish::error;
  std::string error;  // set when finish == error
  int prompt_tokens = 0;
  int cached_prompt_tokens = 0;  // of prompt_tokens: reused from the engine's cache, not computed
  int generated_tokens = 0;
  // steady_clock nanoseconds: submitted, given a slot, first token, done.
  int64_t queued_ns = 0, started_ns = 0, first_token_ns = 0, finished_ns = 0;
  bool ok() const { return finish == Finish::stop || finish == Finish::length; }
};

// A request in flight. cancel() is idempotent and thread-safe; the engine then completes the
// request promptly with Finish::cancelled and frees whatever it held (slot, connection, process).
class PendingRequest {
 public:
  virtual ~PendingRequest() = default;
  virtual void cancel() = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const std::string& name() const = 0;
  // False once the engine can no longer serve (e.g. its server process died); the broker then
  // replaces it at the next lease. Thread-safe.
  virtual bool alive() const { return true; }
  // Thread-safe. `done` is called exactly once: on an engine thread, or on the caller's thread when
  // the request is refused at once (engine stopped). `done` must not throw.
  virtual std::shared_ptr<PendingRequest> submit(GenerateRequest request, std::function<void(GenerateResult)> done) = 0;
  // What the engine measures about itself, for `inspect`, the dashboard and the benchmarks (the
  // llama engine: its prefix cache, and the time its grammar takes per token). Thread-safe.
  virtual Json stats() const { return Json::object(); }
};

int64_t now_ns();  // steady_clock, the clock of every timing in Skein

// Asio adapter. REQUIRES: the handler's executor is single-threaded (an io_context run by one
// thread, or a strand), as in Skein's orchestration loop.
template <typename CompletionToken>
auto async_generate(Engine& engine, GenerateRequest request, CompletionToken&& token) {
  namespace asio = boost::asio;
  return asio::async_initiate<CompletionToken, void(GenerateResult)>(
      [&engine](auto handler, GenerateRequest req) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto pending = engine.submit(std::move(req), detail::cross_thread_completion(std::move(handler)));
        if (slot.is_connected())
          slot.assign([weak = std::weak_ptr<PendingRequest>(pending)](asio::cancellation_type) {
            if (auto p = weak.lock()) p->cancel();
          });
      },
      token, std::move(request));
}

// Blocking convenience for tools and tests.
GenerateResult generate_sync(Engine& engine, GenerateRequest request);

// How the openai backend sends a reply's schema, one line for `skein inspect`: "strict",
// "strict (optional properties sent as required and nullable)" or "non-strict: <why>".
std::string openai_schema_mode(const Json& schema);

}  // namespace skein
