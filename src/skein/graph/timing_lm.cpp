// The timing decorator (timing_lm.hpp).
#include "skein/timing_lm.hpp"

#include "skein/graph_run.hpp"

namespace skein {

namespace asio = boost::asio;

const char* to_string(LMCall call) {
  switch (call) {
    case LMCall::choose:
      return "choose";
    case LMCall::fill:
      return "fill";
  }
  return "?";
}

asio::awaitable<LMReply<std::string>> TimingLM::choose_type(const NodeType& from, const std::vector<std::string>& types,
                                                            const Json& context) {
  const int64_t start = now_ns();
  LMReply<std::string> reply = co_await inner_.choose_type(from, types, context);
  record({LMCall::choose, reply.value, start, now_ns(), reply.tokens, reply.queue_ns, reply.generate_ns});
  co_return reply;
}

asio::awaitable<LMReply<Json>> TimingLM::fill(const NodeType& target, const Json& resolved,
                                              const std::string& instruction, const TraceEntry& source) {
  const int64_t start = now_ns();
  LMReply<Json> reply = co_await inner_.fill(target, resolved, instruction, source);
  record({LMCall::fill, target.name, start, now_ns(), reply.tokens, reply.queue_ns, reply.generate_ns});
  co_return reply;
}

void TimingLM::record(LMTiming t) {
  std::lock_guard l(mu_);
  timings_.push_back(std::move(t));
}

std::vector<LMTiming> TimingLM::timings() const {
  std::lock_guard l(mu_);
  return timings_;
}

void TimingLM::take(std::vector<LMTiming>& out) {
  out.clear();
  std::lock_guard l(mu_);
  std::swap(out, timings_);
}

}  // namespace skein
