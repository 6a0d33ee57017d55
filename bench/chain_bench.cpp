// Chain benchmarks (a table, not a test):
//  (a) orchestration overhead: step-records/s through a 3-step chain over 100k records on an
//      engine that answers instantly (goal >= 1,000,000/s);
//  (b) peak RSS of a 1,000,000-record Apply-only chain (goal <= 100 MB) and its speed (goal >= 500,000 records/s), in a
//  child process; (c) generated tokens/s of a 2-step chain on the `bench` model against the same requests sent
//      straight to the engine at the same parallelism (goal >= 0.9);
//  (d) a chain whose 64 records share a ~1,000-token system prompt, on the `bench` model at
//      parallel 4 and 8: wall time and tokens/s with the prefix cache on and off (goal >= 3x), the
//      prompt tokens computed against the unique ones (goal <= 1.1x), and the same requests sent
//      to llama-server (cache_prompt on) as the peer.
//   chain_bench [--records 100000] [--rss-records 1000000] [--parallel 4] [--skip-model] [--only a|b|c|d]
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>

#include "engine/llama/model.hpp"
#include "engine/llama/prefix_cache.hpp"
#include "engine/openai/openai_engine.hpp"
#include "instant_chain.hpp"
#include "llama_server.hpp"
#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "skein/llama_engine.hpp"
#include "test_engine.hpp"

namespace fs = std::filesystem;
using namespace skein;

namespace {

struct Args {
  size_t records = 100000, rss_records = 1000000;
  int parallel = 4;
  bool model = true;
  std::string only;  // a, b or c: just that one
};

fs::path scratch() {
  fs::path d = fs::temp_directory_path() / ("skein_chain_bench_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

double seconds_since(int64_t t0) { return double(now_ns() - t0) / 1e9; }

// (a) Three Steps on an instant engine.
void overhead(const Args& a, const fs::path& dir) {
  bench::write_input(dir / "a.jsonl", a.records);
  fmt::print("(a) 3-step chain, instant engine, {} records\n\n", a.records);
  fmt::print("| batch size | wall s | step-records/s | goal |\n|---:|---:|---:|---:|\n");
  for (int batch : {16, 256}) {
    const auto [s, secs] = bench::run_on_instant_engine(bench::kThreeSteps, dir / "a.jsonl", dir / "a_out", batch);
    if (s.records_out != a.records) fmt::print(stderr, "unexpected: {} records out\n", s.records_out);
    fmt::print("| {} | {:.2f} | {:.0f} | 1,000,000 |\n", batch, secs, 3.0 * double(a.records) / secs);
  }
  fmt::print("\n");
}

// (b) An Apply-only chain over a million records, in a child so its peak RSS is its own.
void peak_rss(const Args& a, const fs::path& dir) {
  bench::write_input(dir / "b.jsonl", a.rss_records);
  const int64_t t0 = now_ns();
  const pid_t pid = fork();
  if (pid == 0) {
    const char* yaml = R"(chain: apply_only
steps:
  - apply: tag
    fn: explode
    field: chain_input.tags
  - apply: kept
    fn: filter
    where: tag != "b"
  - apply: shaped
    fn: map
    set: {text: "chain_input.text | upper", tag: tag}
)";
    RunOptions o;
    o.input_path = (dir / "b.jsonl").string();
    o.output_dir = (dir / "b_out").string();
    o.batch_size = 64;
    run_chain(parse_chain(yaml, (dir / "b.yaml").string()), o);
    std::_Exit(0);
  }
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  const double secs = seconds_since(t0);
  fmt::print(
      "(b) Apply-only chain (explode, filter, map), {} records: {:.2f} s, {:.0f} records/s, peak RSS {:.0f} MB (goals: "
      ">= 500,000 records/s, <= 100 MB){}\n\n",
      a.rss_records, secs, double(a.rss_records) / secs, double(usage.ru_maxrss) / 1024.0,
      WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "" : " [child failed]");
}

// Records every request an engine is given, then forwards it.
class Recorder : public Engine {
 public:
  explicit Recorder(std::unique_ptr<Engine> inner) : inner_(std::move(inner)) {}
  const std::string& name() const override { return inner_->name(); }
  bool alive() const override { return inner_->alive(); }
  std::shared_ptr<PendingRequest> submit(GenerateRequest r, std::function<void(GenerateResult)> done) override {
    {
      std::lock_guard l(mu_);
      requests_.push_back(r);
    }
    return inner_->submit(std::move(r), std::move(done));
  }
  std::vector<GenerateRequest> requests() {
    std::lock_guard l(mu_);
    return requests_;
  }

 private:
  std::unique_ptr<Engine> inner_;
  std::mutex mu_;
  std::vector<GenerateRequest> requests_;
};

// A broker whose one engine, `bench`, is made by `make` and recorded, loaded (leased) before
// anything is timed.
struct RecordingBroker {
  explicit RecordingBroker(std::function<std::unique_ptr<Engine>()> make)
      : broker({}, [this, make = std::move(make)](const EngineConfig&) {
          auto r = std::make_unique<Recorder>(make());
          recorder = r.get();
          return r;
        }) {
    EngineConfig bench;
    bench.name = "bench";
    bench.model = SKEIN_BENCH_MODEL;
    broker.add(bench);
    lease.emplace(broker.acquire("bench"));
  }
  Recorder* recorder = nullptr;
  Broker broker;
  std::optional<Lease> lease;
};

// (c) Two Steps on the bench model vs the same requests straight to the engine.
void model_throughput(const Args& a, const fs::path& dir) {
  const std::string yaml = R"(chain: two_steps
engines:
  bench: {model: )" + std::string(SKEIN_BENCH_MODEL) +
                           R"(}
types:
  Note: {type: object, properties: {note: {type: string, maxLength: 40}}, required: [note]}
batch_size: 32
steps:
  - step: first
    engine: bench
    output: Note
    user: "Write a note about {{ chain_input.text }}."
    sampling: {temperature: 0, max_tokens: 96}
    retries: 0
  - step: second
    engine: bench
    output: Note
    user: "Rewrite this note: {{ first.note }}"
    sampling: {temperature: 0, max_tokens: 96}
    retries: 0
)";
  bench::write_input(dir / "c.jsonl", 64);
  LlamaOptions lo;
  lo.model_path = SKEIN_BENCH_MODEL;
  lo.parallel = a.parallel;
  lo.threads = 2;
  RecordingBroker rb([&] { return make_llama_engine("bench", lo); });
  RunOptions o;
  o.input_path = (dir / "c.jsonl").string();
  o.output_dir = (dir / "c_out").string();
  o.broker = &rb.broker;
  int64_t t0 = now_ns();
  RunSummary s = run_chain(parse_chain(yaml, (dir / "c.yaml").string()), o);
  const double chain_secs = seconds_since(t0);
  long long chain_tokens = 0;
  for (const auto& [_, c] : s.nodes) chain_tokens += c.generated_tokens;
  // The same requests, all submitted at once per step as the chain does, straight to the engine.
  const auto requests = rb.recorder->requests();
  long long direct_tokens = 0;
  t0 = now_ns();
  for (size_t from = 0; from < requests.size(); from += 32) {
    std::vector<std::future<GenerateResult>> results;
    for (size_t i = from; i < std::min(requests.size(), from + 32); ++i) {
      auto p = std::make_shared<std::promise<GenerateResult>>();
      results.push_back(p->get_future());
      rb.lease->engine().submit(requests[i], [p](GenerateResult r) { p->set_value(std::move(r)); });
    }
    for (auto& f : results) direct_tokens += f.get().generated_tokens;
  }
  const double direct_secs = seconds_since(t0);
  const double chain_rate = chain_tokens / chain_secs, direct_rate = direct_tokens / direct_secs;
  fmt::print("(c) 2-step chain on the bench model (random weights), 64 records, parallel {}, JSON-constrained\n\n",
             a.parallel);
  fmt::print("| | generated tokens | wall s | tok/s |\n|---|---:|---:|---:|\n");
  fmt::print("| chain | {} | {:.2f} | {:.1f} |\n", chain_tokens, chain_secs, chain_rate);
  fmt::print("| same requests, engine direct | {} | {:.2f} | {:.1f} |\n", direct_tokens, direct_secs, direct_rate);
  fmt::print("\nratio chain / engine: {:.2f} (goal >= 0.9); errors in the chain: {}\n", chain_rate / direct_rate,
             s.errors);
}

// (d) The shared-prefix chain on one engine (`make`): its summary, wall seconds and requests.
struct SharedPrefixRun {
  RunSummary summary;
  double secs;
  std::vector<GenerateRequest> requests;
};
SharedPrefixRun shared_prefix_run(const fs::path& dir, const std::function<std::unique_ptr<Engine>()>& make) {
  std::string system;
  for (int i = 1; system.size() < 3600; ++i)
    system += "      Rule " + std::to_string(i) + ": items numbered " + std::to_string(i * 7) + " are kept apart.\n";
  const std::string yaml = R"(chain: shared_prefix
engines:
  bench: {model: )" + std::string(SKEIN_BENCH_MODEL) +
                           R"(}
batch_size: 64
steps:
  - step: answer
    engine: bench
    output: {type: object, properties: {answer: {type: string}}, required: [answer]}
    system: |
)" + system + R"(    user: "Item {{ chain_input.text }}?"
    sampling: {temperature: 0, max_tokens: 32}
    retries: 0
)";
  bench::write_input(dir / "d.jsonl", 64);
  RecordingBroker rb(make);
  RunOptions o;
  o.input_path = (dir / "d.jsonl").string();
  o.output_dir = (dir / "d_out").string();
  o.broker = &rb.broker;
  const int64_t t0 = now_ns();
  RunSummary s = run_chain(parse_chain(yaml, (dir / "d.yaml").string()), o);
  const double secs = seconds_since(t0);
  return {s, secs, rb.recorder->requests()};  // while the broker (and the recorder) lives
}

// Prompt tokens that differ: the size of the token trie of the requests' prompts (each shared
// prefix counted once), as the llama engine renders and tokenises them.
long long unique_prompt_tokens(const std::vector<GenerateRequest>& requests) {
  llama::Model model = llama::load_model("bench", SKEIN_BENCH_MODEL);
  std::vector<std::vector<llama_token>> prompts;
  for (const auto& r : requests) {
    const std::string text = model.format(r.messages);
    std::vector<llama_token> tokens(text.size() + 8);
    const int n = llama_tokenize(model.vocab, text.data(), int32_t(text.size()), tokens.data(), int32_t(tokens.size()),
                                 true, true);  // as the engine does (common_tokenize)
    tokens.resize(size_t(std::max(n, 0)));
    prompts.push_back(std::move(tokens));
  }
  llama::free_model(model);
  std::sort(prompts.begin(), prompts.end());
  long long n = 0;
  for (size_t i = 0; i < prompts.size(); ++i)
    n += (long long)(prompts[i].size() - (i ? llama::common_prefix(prompts[i - 1], prompts[i]) : 0));
  return n;
}

void shared_prefix(const Args&, const fs::path& dir) {
  fmt::print(
      "(d) shared-prefix chain on the bench model (random weights): 64 records, a ~1,000-token system prompt, "
      "32-token outputs, JSON-constrained\n\n");
  fmt::print(
      "| parallel | engine | wall s | generated tok/s | prompt tokens | computed | reused | computed / unique |\n"
      "|---:|---|---:|---:|---:|---:|---:|---:|\n");
  for (int parallel : {4, 8}) {
    double off_secs = 0;
    for (bool cache : {false, true}) {
      LlamaOptions lo;
      lo.model_path = SKEIN_BENCH_MODEL;
      lo.parallel = parallel;
      lo.threads = 2;
      lo.prefix_cache = cache;
      auto [s, secs, requests] = shared_prefix_run(dir, [&] { return make_llama_engine("bench", lo); });
      const NodeCounts& c = s.nodes.at("answer");
      if (!cache) off_secs = secs;
      const long long computed = c.prompt_tokens - c.cached_prompt_tokens;
      const double unique = double(unique_prompt_tokens(requests));
      fmt::print("| {} | skein llama, prefix cache {} | {:.2f} | {:.1f} | {} | {} | {} | {:.2f}{} |\n", parallel,
                 cache ? "on" : "off", secs, c.generated_tokens / secs, c.prompt_tokens, computed,
                 c.cached_prompt_tokens, double(computed) / unique,
                 cache ? fmt::format(" ({:.2f}x the speed of off)", off_secs / secs) : std::string());
    }
    test::LlamaServer server(parallel, SKEIN_BENCH_MODEL, 2048, 2);
    OpenAIOptions oo;
    oo.endpoint = server.endpoint();
    oo.model = "bench";
    oo.parallel = parallel;
    auto [s, secs, requests] = shared_prefix_run(dir, [&] { return make_openai_engine("bench", oo); });
    const NodeCounts& c = s.nodes.at("answer");
    fmt::print(
        "| {} | llama-server (cache_prompt on), same chain | {:.2f} | {:.1f} | {} | {} | {} | ({:.2f}x the speed of "
        "off) |\n",
        parallel, secs, c.generated_tokens / secs, c.prompt_tokens, c.prompt_tokens - c.cached_prompt_tokens,
        c.cached_prompt_tokens, off_secs / secs);
  }
  fmt::print("\n");
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--skip-model")
      a.model = false;
    else if (i + 1 < argc && k == "--records")
      a.records = std::stoul(argv[++i]);
    else if (i + 1 < argc && k == "--rss-records")
      a.rss_records = std::stoul(argv[++i]);
    else if (i + 1 < argc && k == "--only")
      a.only = argv[++i];
    else if (i + 1 < argc && k == "--parallel")
      a.parallel = std::stoi(argv[++i]);
    else {
      fmt::print(stderr,
                 "usage: chain_bench [--records N] [--rss-records N] [--parallel P] [--skip-model] [--only a|b|c|d]\n");
      return 2;
    }
  }
  const fs::path dir = scratch();
  if (a.only.empty() || a.only == "a") overhead(a, dir);
  if (a.only.empty() || a.only == "b") peak_rss(a, dir);
  if (a.model && (a.only.empty() || a.only == "c")) model_throughput(a, dir);
  if (a.model && (a.only.empty() || a.only == "d")) shared_prefix(a, dir);
  fs::remove_all(dir);
}
