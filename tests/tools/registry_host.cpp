// A process holding a run registry with a store, for the crash test: it submits a graph run that
// waits at a gate, says "ready" once the store has it, and waits to be killed.
#include <unistd.h>

#include <iostream>

#include "skein/run_registry.hpp"

using namespace skein;

class NoLM : public GraphLM {
 public:
  boost::asio::awaitable<LMReply<std::string>> choose_type(const NodeType&, const std::vector<std::string>& t,
                                                           const Json&) override {
    co_return LMReply<std::string>{t[0], {}};
  }
  boost::asio::awaitable<LMReply<Json>> fill(const NodeType&, const Json&, const std::string&,
                                             const TraceEntry&) override {
    co_return LMReply<Json>{Json::object(), {}};
  }
};

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  RegistryOptions o;
  o.store = argv[1];
  RunRegistry registry(o);
  NoLM lm;
  GraphJob job;
  job.graph = std::make_shared<Graph>(parse_graph(R"(graph: held
start: Ask
nodes:
  Ask:
    fields: {ok: {type: boolean, gate: "Go on?"}}
    next: [end]
)",
                                                  "held.yaml"));
  job.input = Json::object();
  job.lm = &lm;
  const std::string id = registry.submit(std::move(job));
  registry.wait_until(
      id, [](const RunSnapshot& s) { return s.state == RunState::waiting; }, std::chrono::seconds(20));
  registry.flush_store();
  std::cout << "ready " << id << std::endl;
  for (;;) ::pause();
}
