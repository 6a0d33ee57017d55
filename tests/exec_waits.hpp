// Shared by exec_concurrency_test and registry_bench: graph runs whose `exec` dep sleeps 0.2 s
// and which then wait at a gate, 64 children at once (max_processes).
#pragma once
#include <memory>

#include "skein/executors.hpp"
#include "skein/graph.hpp"
#include "skein/run_registry.hpp"

namespace skein::test {

// Submits `n` such runs to `registry`; none needs a model call from `lm`.
inline void submit_exec_waits(RunRegistry& registry, GraphLM& lm, int n) {
  const char* yaml = R"(graph: waits
start: A
functions:
  nap: {exec: [sh, -c, "sleep 0.2; echo 1"]}
nodes:
  A: {fields: {q: {type: string}}, next: [B]}
  B:
    fields:
      n: {dep: nap, type: integer}
      ok: {type: boolean, gate: "ok?"}
    next: [end]
)";
  set_max_processes(64);
  auto g = std::make_shared<Graph>(parse_graph(yaml, "/tmp/waits.yaml"));
  for (int i = 0; i < n; ++i) {
    GraphJob j;
    j.graph = g, j.input = {{"q", "x"}}, j.lm = &lm, j.verbosity = Verbosity::quiet;
    registry.submit(std::move(j));
  }
}

}  // namespace skein::test
