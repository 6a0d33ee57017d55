// The LM protocol over engines, and the timing decorator (SPEC §4).
#pragma once
#include <functional>
#include <map>
#include <mutex>

#include "skein/engine.hpp"
#include "skein/graph_run.hpp"

namespace skein {

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

// One timed LM call.
struct LMTiming {
  std::string call;  // choose | fill
  std::string node;  // fill: the node filled; choose: the node chosen
  int64_t start_ns = 0, end_ns = 0;
  LMTokens tokens;
  int64_t queue_ns = 0, generate_ns = 0;  // of start..end: waiting for a slot, generating
};

// Implements the protocol by calling another implementation and recording each call's timing and
// tokens, without the run loop knowing. Thread-safe.
class TimingLM : public GraphLM {
 public:
  explicit TimingLM(GraphLM& inner) : inner_(inner) {}
  boost::asio::awaitable<LMReply<std::string>> choose_type(const NodeType& from, const std::vector<std::string>& types,
                                                           const Json& context) override;
  boost::asio::awaitable<LMReply<Json>> fill(const NodeType& target, const Json& resolved,
                                             const std::string& instruction, const TraceEntry& source) override;
  std::vector<LMTiming> timings() const;
  std::vector<LMTiming> timings_since(size_t first) const;  // the calls recorded from `first` on

 private:
  void record(LMTiming t);
  GraphLM& inner_;
  mutable std::mutex mu_;
  std::vector<LMTiming> timings_;
};

}  // namespace skein
