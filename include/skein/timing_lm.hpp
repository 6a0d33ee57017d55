// The timing decorator of the LM protocol (SPEC §4): each call's time and tokens, recorded
// without the run loop knowing (the run registry's per-node timings come from it).
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "skein/enum_names.hpp"
#include "skein/graph_lm.hpp"

namespace skein {

// The calls of the LM protocol: choose the next node, fill a node's fields.
enum class LMCall { choose, fill };
const char* to_string(LMCall call);  // choose, fill
template <>
struct EnumCount<LMCall> {
  static constexpr int value = 2;
};

// One timed LM call.
struct LMTiming {
  LMCall call = LMCall::choose;
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
  std::vector<LMTiming> timings() const;  // the calls recorded and not taken
  // The calls recorded since the last take, moved into `out` (emptied first; its capacity and
  // the recorder's are kept, so a host that takes after every node allocates nothing).
  void take(std::vector<LMTiming>& out);

 private:
  void record(LMTiming t);
  GraphLM& inner_;
  mutable std::mutex mu_;
  std::vector<LMTiming> timings_;
};

}  // namespace skein
