// What chain_bench and graph_bench share: NeoGraph's `seq` as a chain of three Steps, its input,
// and one run of a chain on an engine that answers {"a": 1} at once.
#pragma once
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "test_engine.hpp"

namespace skein::bench {

inline const char* kThreeSteps = R"(chain: three_steps
types:
  A: {type: object, properties: {a: {type: integer}}, required: [a]}
steps:
  - step: one
    output: A
    user: "{{ chain_input.text }}"
  - step: two
    output: A
    user: "{{ chain_input.text }} {{ one.a }}"
  - step: three
    output: A
    user: "{{ two.a }}"
)";

// `n` records {"text": "record <i>", "tags": ["a", "b", "c"]}, one per line.
inline void write_input(const std::filesystem::path& path, size_t n) {
  std::ofstream out(path);
  for (size_t i = 0; i < n; ++i) out << R"({"text": "record )" << i << R"(", "tags": ["a", "b", "c"]})" << '\n';
}

struct TimedRun {
  RunSummary summary;
  double seconds = 0;
};

// One run of the chain `yaml` over `input`, `batch` records at a time, its folder `out`.
inline TimedRun run_on_instant_engine(const std::string& yaml, const std::filesystem::path& input,
                                      const std::filesystem::path& out, size_t batch) {
  const Chain chain = parse_chain(yaml, (out.parent_path() / "chain.yaml").string());
  Broker broker({}, [](const EngineConfig& c) { return std::make_unique<test::TestEngine>(c.name, R"({"a": 1})"); });
  RunOptions o;
  o.input_path = input.string();
  o.output_dir = out.string();
  o.batch_size = batch;
  o.broker = &broker;
  const int64_t t0 = now_ns();
  TimedRun r{run_chain(chain, o)};
  r.seconds = double(now_ns() - t0) / 1e9;
  return r;
}

}  // namespace skein::bench
