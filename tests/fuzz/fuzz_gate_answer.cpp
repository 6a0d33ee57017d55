// A gate answer checked against its field's type through the run registry: a run waits at a gate
// whose field has a strict type, and each input is offered as the answer. An accepted answer
// finishes the run and the next input meets a new one.
#include <chrono>
#include <cstdlib>

#include "fuzz.hpp"
#include "skein/broker.hpp"
#include "skein/graph_lm.hpp"
#include "skein/run_registry.hpp"

namespace {

using namespace std::chrono_literals;

struct Harness {
  skein::RunRegistry registry{[] {
    skein::RegistryOptions o;
    o.history = 4;
    return o;
  }()};
  std::shared_ptr<const skein::Graph> graph = std::make_shared<skein::Graph>(skein::parse_graph(R"(
graph: gate
start: Request
nodes:
  Request:
    fields:
      title: {type: string}
    next: [Ask]
  Ask:
    fields:
      decision:
        gate: "Decide"
        type: object
        properties:
          ok: {type: boolean}
          reason: {type: string, maxLength: 40}
          level: {type: integer, minimum: 1, maximum: 5}
          tags: {type: array, items: {enum: [x, y]}, maxItems: 2}
        required: [ok, level]
        additionalProperties: false
    next: []
)",
                                                                                                "fuzz/gate.yaml"));
  skein::Broker broker;  // no engine: the graph makes no model call
  skein::EngineLM lm{broker};
  std::string gate;

  // A run waiting at its gate.
  void open() {
    skein::GraphJob job;
    job.graph = graph;
    job.input = skein::Json{{"title", "fuzz"}};
    job.lm = &lm;
    job.verbosity = skein::Verbosity::silent;
    const std::string id = registry.submit(std::move(job));
    const bool waiting = registry.wait_until(
        id, [](const skein::RunSnapshot& r) { return r.state == skein::RunState::waiting; }, 60s);
    if (!waiting) std::abort();  // the harness is broken, not the input: say so loudly
    gate = id + ".1";
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness& h = *new Harness;  // never destroyed: libFuzzer exits from anywhere
  const skein::Json value = skein::Json::parse(data, data + size, nullptr, false);
  if (value.is_discarded()) return 0;
  if (h.gate.empty()) h.open();
  try {
    h.registry.answer(h.gate, value);
    h.gate.clear();  // accepted: the run goes on to its end
  } catch (const skein::InvalidValueError& e) {
    (void)e.what();  // refused with the reason: the gate stays open
  }
  // Any other error (the gate unknown or closed while open) escapes: a finding.
  return 0;
}
