// The LM protocol's calls built on choose_type and fill (SPEC §4).
#include <boost/asio/use_awaitable.hpp>

#include "skein/graph_run.hpp"

namespace skein {

namespace asio = boost::asio;

std::vector<const Field*> model_fields(const NodeType& target) {
  std::vector<const Field*> wanted;
  for (const auto& f : target.fields)
    if (f.source == FieldSource::plain) wanted.push_back(&f);
  return wanted;
}

asio::awaitable<LMReply<Json>> GraphLM::make(const TraceEntry& node, const NodeType& target) {
  if (model_fields(target).empty()) co_return LMReply<Json>{empty_object(), {}};
  co_return co_await fill(target, Json::object(), target.instruction_text(), node);
}

namespace {
asio::awaitable<LMReply<std::string>> without_a_call(const NodeType& type) {
  co_return LMReply<std::string>{type.only_successor(), {}};
}
}  // namespace

// Not a coroutine: a choice is choose_type's own awaitable (a frame fewer per routed transition).
asio::awaitable<LMReply<std::string>> GraphLM::decide(const NodeType& type, const TraceEntry& node) {
  if (type.next.size() < 2) return without_a_call(type);
  return choose_type(type, type.next, node.fields);
}

}  // namespace skein
