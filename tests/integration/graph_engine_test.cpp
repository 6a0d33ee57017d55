// The LM protocol over a real engine (the `local` fixture model: random weights, so the choices
// and values are arbitrary but always of their types), the requests it sends, and the timing
// decorator's records matching the trace.
#include <gtest/gtest.h>

#include <mutex>

#include "fixture.hpp"
#include "skein/broker.hpp"
#include "skein/graph_run.hpp"
#include "skein/llama_engine.hpp"
#include "skein/timing_lm.hpp"

namespace skein {
namespace {

const char* kGraph = R"(graph: triage
start: Ticket
nodes:
  Ticket:
    fields:
      text: {type: string}
    next: [Classify]
  Classify:
    instruction: Classify the ticket
    fields:
      kind: {enum: [bug, question, spam]}
      urgent: {type: boolean}
    next: [Fix, Answer, end]
  Fix:
    fields:
      patch: {type: string, maxLength: 30}
    next: [end]
  Answer:
    fields:
      reply: {type: string, maxLength: 30}
      polite: {type: boolean, description: whether the reply is polite}
    next: []
)";

// Records requests and answers from a script.
class ScriptEngine : public Engine {
 public:
  std::vector<std::string> replies;
  std::vector<GenerateRequest> seen;
  const std::string& name() const override { return name_; }
  bool alive() const override { return true; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest r, std::function<void(GenerateResult)> done) override {
    GenerateResult g;
    {
      std::lock_guard l(mu_);
      seen.push_back(r);
      g.text = replies.at(seen.size() - 1);
    }
    g.finish = Finish::stop;
    done(std::move(g));
    return std::make_shared<Nothing>();
  }

 private:
  struct Nothing : PendingRequest {
    void cancel() override {}
  };
  std::string name_ = "script";
  std::mutex mu_;
};

TEST(GraphEngineTest, ChooseIsAnEnumOfTheCandidatesAndFillAsksExactlyTheModelFields) {
  const Graph g = parse_graph(kGraph, "/g/triage.yaml");
  ScriptEngine engine;
  engine.replies = {R"({"kind": "bug", "urgent": true})", R"({"next": "maybe"})", R"({"next": "Answer"})",
                    R"({"reply": "on it", "polite": true})"};
  EngineLM lm([&](const std::string&) -> Engine& { return engine; });
  GraphRunOptions o;
  o.lm = &lm;
  GraphResult r = run_graph_sync(g, Json{{"text", "it crashes"}}, std::move(o));
  EXPECT_EQ(r.terminal.type, "Answer");
  EXPECT_EQ(r.terminal.fields, Json::parse(R"({"reply": "on it", "polite": true})"));
  ASSERT_EQ(engine.seen.size(), 4u);
  const Json fill_schema = engine.seen[0].output->schema();
  EXPECT_EQ(fill_schema["required"], Json::parse(R"(["kind", "urgent"])"));
  EXPECT_EQ(fill_schema["additionalProperties"], false);
  EXPECT_NE(engine.seen[0].messages[0].content.find("Classify the ticket"), std::string::npos);
  EXPECT_NE(engine.seen[0].messages[1].content.find("it crashes"), std::string::npos);  // the source node
  EXPECT_EQ(engine.seen[1].output->schema()["properties"]["next"]["enum"], Json::parse(R"(["Fix", "Answer", "end"])"));
  EXPECT_NE(engine.seen[2].messages.back().content.find("invalid"), std::string::npos);  // "maybe" was retried
  EXPECT_EQ(engine.seen[3].output->schema()["properties"]["polite"]["description"], "whether the reply is polite");
}

// Forwards to a script engine, noting how many leases the broker has out at each request.
class LeaseNoting : public Engine {
 public:
  LeaseNoting(ScriptEngine& inner, const Broker* const& broker, std::vector<int>& leases)
      : inner_(inner), broker_(broker), leases_(leases) {}
  const std::string& name() const override { return inner_.name(); }
  bool alive() const override { return true; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest r, std::function<void(GenerateResult)> done) override {
    leases_.push_back(broker_->status().at(0).leases);
    return inner_.submit(std::move(r), std::move(done));
  }

 private:
  ScriptEngine& inner_;
  const Broker* const& broker_;
  std::vector<int>& leases_;
};

TEST(GraphEngineTest, WithABrokerEachModelCallHoldsALeaseOnlyWhileItRuns) {
  const Graph g = parse_graph(kGraph, "/g/triage.yaml");
  ScriptEngine script;
  script.replies = {R"({"kind": "bug", "urgent": true})", R"({"next": "end"})"};
  std::vector<int> leases;
  const Broker* watched = nullptr;
  Broker broker({}, [&](const EngineConfig&) { return std::make_unique<LeaseNoting>(script, watched, leases); });
  watched = &broker;
  broker.add(local_engine_config());
  EngineLM lm(broker);
  GraphRunOptions o;
  o.lm = &lm;
  GraphResult r = run_graph_sync(g, Json{{"text", "it crashes"}}, std::move(o));
  EXPECT_EQ(r.terminal.type, "Classify");
  EXPECT_EQ(leases, (std::vector<int>{1, 1}));  // the fill, the choice: each under its own lease
  EXPECT_EQ(broker.status().at(0).leases, 0);   // none between calls, none after
  EXPECT_EQ(broker.status().at(0).state, EngineState::ready);
}

TEST(GraphEngineTest, ARunOnTheLocalModelIsTypedAndTheTimingsMatchTheTrace) {
  const Graph g = parse_graph(kGraph, "/g/triage.yaml");
  LlamaOptions lo = test::local_options(2);
  auto engine = make_llama_engine("local", lo);
  Sampling s;
  s.temperature = 0.8f;
  s.seed = 5;
  s.max_tokens = 64;
  EngineLM lm([&](const std::string&) -> Engine& { return *engine; }, "local", s);
  TimingLM timed(lm);
  GraphRunOptions o;
  o.lm = &timed;
  GraphResult r = run_graph_sync(g, Json{{"text", "the app crashes on start"}}, std::move(o));
  ASSERT_GE(r.trace.size(), 2u);
  EXPECT_EQ(r.trace[1].type, "Classify");
  for (const auto& e : r.trace)
    for (const auto& f : g.nodes.at(e.type).fields) {
      ASSERT_TRUE(e.fields.contains(f.name)) << e.type << "." << f.name;
      EXPECT_TRUE(f.type->validate(e.fields[f.name]).empty()) << e.fields.dump();
    }
  // One fill per node after the start and one choice after Classify, in trace order.
  std::vector<std::string> expected;
  for (size_t i = 1; i < r.trace.size(); ++i) {
    expected.push_back("fill " + r.trace[i].type);
    if (r.trace[i].type == "Classify")
      expected.push_back("choose " + (i + 1 < r.trace.size() ? r.trace[i + 1].type : "end"));
  }
  std::vector<std::string> got;
  int64_t last_end = 0;
  LMTokens recorded;
  for (const auto& t : timed.timings()) {
    got.push_back(to_string(t.call) + std::string(" ") + t.node);
    EXPECT_LE(t.start_ns, t.end_ns);
    EXPECT_GE(t.start_ns, last_end);
    EXPECT_GT(t.tokens.prompt, 0);
    EXPECT_GT(t.tokens.generated, 0);
    last_end = t.end_ns;
    recorded += t.tokens;
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(recorded.prompt, r.tokens.prompt);  // the run counts the same tokens as the decorator
  EXPECT_EQ(recorded.generated, r.tokens.generated);
}

}  // namespace
}  // namespace skein
