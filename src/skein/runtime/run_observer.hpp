// The registry's view of one graph run (run_registry.cpp starts it): the run loop's hooks kept in
// the run's snapshot (current node, per-node and per-dep timing, tokens), its store record and its
// events. Called on the registry's loop thread only.
#pragma once
#include "registry_impl.hpp"

namespace skein {

// Sees one run through the run loop's hooks: current node, per-node and per-dep timing.
class RunObserver : public GraphObserver {
 public:
  RunObserver(RunRegistry::Impl& reg, Run& run) : reg_(reg), run_(run) {}

  void node_entered(const std::string& type) override {
    reg_.update(run_, [&] { run_.snap.node = type; });
    reg_.emit_if_wanted(run_, RunEventKind::node_started, [&] { return json_object("node", type); });
  }

  void node_done(size_t index, const TraceEntry& entry, int64_t start_ns, int64_t end_ns) override {
    NodeTiming t;
    t.index = index;
    t.node = entry.type;
    t.start_ns = start_ns;
    t.end_ns = end_ns;
    std::vector<LMTiming>& calls = reg_.lm_calls;  // this node's
    run_.timing->take(calls);
    t.tokens = std::exchange(replayed_, {});
    for (const auto& c : calls) {
      t.lm_ns += c.end_ns - c.start_ns;
      t.queue_ns += c.queue_ns;
      t.generate_ns += c.generate_ns;
      t.tokens += c.tokens;
    }
    reg_.update(run_, [&] {
      t.deps_ns = std::exchange(run_.deps_ns_pending, 0);
      run_.snap.node = entry.type;
      if (run_.snap.trace.empty()) {  // a run's usual length, without regrowth (as the run loop's own trace)
        const size_t usual = std::clamp<size_t>(run_.job.graph->nodes.size(), 4, 16);
        run_.snap.trace.reserve(usual);
        run_.snap.nodes.reserve(usual);
      }
      run_.snap.trace.push_back(entry);
      run_.snap.tokens += t.tokens;
      run_.snap.nodes.push_back(std::move(t));
    });
    reg_.persist(run_, false, true);
    reg_.emit_lm_calls(run_, calls);
    reg_.emit_if_wanted(run_, RunEventKind::node_finished, [&] {
      return json_object("index", index, "node", entry.type, "ms", double(end_ns - start_ns) / 1e6);
    });
  }

  void lm_replayed(const LMTokens& tokens) override { replayed_ += tokens; }

  void dep_done(const std::string& name, int64_t start_ns, int64_t end_ns, const std::string& error) override {
    reg_.update(run_, [&] {
      run_.snap.deps.push_back(DepTiming{name, start_ns, end_ns, error});
      run_.deps_ns_pending += end_ns - start_ns;
    });
    reg_.emit_if_wanted(run_, RunEventKind::dep_finished, [&] {
      return json_object("dep", name, "ms", double(end_ns - start_ns) / 1e6, "error", error);
    });
  }

 private:
  RunRegistry::Impl& reg_;
  Run& run_;
  LMTokens replayed_;  // of the node under way: its calls answered from the ledger
};

}  // namespace skein
