// The LM protocol of graph runs (SPEC §4): what the run loop asks a model, and its one
// implementation over engines (EngineLM). Decorators (timing_lm.hpp) implement it too.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "skein/engine.hpp"
#include "skein/graph.hpp"

namespace skein {

struct TraceEntry;  // graph_run.hpp

// Tokens an LM call used (every attempt of it).
struct LMTokens {
  long long prompt = 0, generated = 0;
  long long cached = 0;  // of `prompt`: reused from an engine's prefix cache, not computed
  LMTokens& operator+=(const LMTokens& o) {
    prompt += o.prompt;
    generated += o.generated;
    cached += o.cached;
    return *this;
  }
};

// A protocol call's answer and what it cost.
template <typename T>
struct LMReply {
  T value;
  LMTokens tokens;
  int64_t queue_ns = 0, generate_ns = 0;  // time waiting for an engine slot, and generating
};

// The fields of `target` the model produces: its plain fields, in declared order.
std::vector<const Field*> model_fields(const NodeType& target);

// The LM protocol (SPEC §4), implemented once over any engine (EngineLM); decorators (TimingLM)
// implement it too. `choose_type` and `fill` are the two calls that reach a model; `decide` and
// `make` are built on them, so a decorator of the two sees every call.
class GraphLM {
 public:
  virtual ~GraphLM() = default;
  // One of `types` (node type names, "end" among them where the node may end), given the current
  // node (`from`, whose engine makes the choice) and its fields. Never called with a single candidate.
  virtual boost::asio::awaitable<LMReply<std::string>> choose_type(const NodeType& from,
                                                                   const std::vector<std::string>& types,
                                                                   const Json& context) = 0;
  // The values of `target`'s model fields (model_fields(target), never empty), given its fields
  // already resolved, the instruction and the node the run comes from.
  virtual boost::asio::awaitable<LMReply<Json>> fill(const NodeType& target, const Json& resolved,
                                                     const std::string& instruction, const TraceEntry& source) = 0;
  // `target`'s model fields made from `node` with nothing resolved and `target`'s own
  // instruction; no call (an empty object) when it has none.
  virtual boost::asio::awaitable<LMReply<Json>> make(const TraceEntry& node, const NodeType& target);
  // The node type after `node` (of type `type`): "end" when `type.next` is empty, its only
  // successor without a call, else choose_type among `type.next`.
  virtual boost::asio::awaitable<LMReply<std::string>> decide(const NodeType& type, const TraceEntry& node);
};

// The LM protocol implemented once over any engine: choose_type asks for {"next": <one of the
// candidates>} (an enum the engine is constrained to), fill for an object of exactly the wanted
// fields (a type built from them, constrained and validated). Prompts give the source node's and
// the resolved fields as JSON and the instruction. Invalid replies are retried, told why.
class EngineLM : public GraphLM {
 public:
  // `engine_for` gives the engine of a name (a node's `engine`, else `default_engine`): the choice
  // after node N uses N's engine, the fill of node M uses M's.
  EngineLM(std::function<Engine&(const std::string& name)> engine_for, std::string default_engine = "local",
           Sampling sampling = {}, int retries = 2);
  // Engines leased from `broker` (async_acquire: the loop never waits on a start) for each call
  // alone, so idle ones follow their keep_alive between calls (a run parked at a gate holds none).
  // The broker must outlive the LM.
  explicit EngineLM(class Broker& broker, std::string default_engine = "local", Sampling sampling = {},
                    int retries = 2);

  boost::asio::awaitable<LMReply<std::string>> choose_type(const NodeType& from, const std::vector<std::string>& types,
                                                           const Json& context) override;
  boost::asio::awaitable<LMReply<Json>> fill(const NodeType& target, const Json& resolved,
                                             const std::string& instruction, const TraceEntry& source) override;

 private:
  boost::asio::awaitable<LMReply<Json>> ask(const std::string& engine, std::vector<ChatMessage> messages,
                                            const TypePtr& type);
  boost::asio::awaitable<LMReply<Json>> ask(Engine& engine, std::vector<ChatMessage> messages, const TypePtr& type);
  std::function<Engine&(const std::string&)> engine_for_;
  class Broker* broker_ = nullptr;
  std::string default_engine_;
  Sampling sampling_;
  int retries_;
};

}  // namespace skein
