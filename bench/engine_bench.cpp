// Engine benchmark: generated tokens/s of the in-process llama engine on the `bench` fixture model
// (random weights, 60M parameters, F16), 32 requests with equal prompt and generation lengths,
// greedy, at parallel 1, 4 and 8 — printed beside llama.cpp's own llama-batched-bench on the same
// model, lengths, parallelism and threads, with the ratio. A second row per parallelism adds a JSON
// grammar to every request, with the time the grammar takes per generated token (p50/p99, from the
// engine's stats), the share of the decode thread's time the grammar took (its time summed over
// the wall time: the cost itself, where the tokens/s ratio of two runs also carries the machine's
// noise), and how many tokens met a grammar state whose allowed tokens had to be computed. The prefix cache is
// off: llama-batched-bench prefills every sequence (its gain is chain_bench's (d)).
//
//   engine_bench [--model M] [--requests 32] [--prompt 64] [--gen 64] [--threads 2] [--parallel 1,4,8]
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "skein/engine.hpp"
#include "skein/llama_engine.hpp"

namespace {

using namespace skein;

struct Args {
  std::string model = SKEIN_BENCH_MODEL;
  int requests = 32, prompt = 64, gen = 64, threads = 2;
  std::vector<int> parallel = {1, 4, 8};
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model")
      a.model = v;
    else if (k == "--requests")
      a.requests = std::stoi(v);
    else if (k == "--prompt")
      a.prompt = std::stoi(v);
    else if (k == "--gen")
      a.gen = std::stoi(v);
    else if (k == "--threads")
      a.threads = std::stoi(v);
    else if (k == "--parallel") {
      a.parallel.clear();
      std::stringstream ss(v);
      for (std::string p; std::getline(ss, p, ',');) a.parallel.push_back(std::stoi(p));
    }
  }
  return a;
}

GenerateRequest make_request(const std::string& text, int gen, const TypePtr& type) {
  GenerateRequest r;
  r.messages = {{"user", text}};
  r.sampling.temperature = 0;  // greedy
  r.sampling.max_tokens = gen;
  r.sampling.ignore_eos = type == nullptr;
  r.output = type;
  return r;
}

// A user text whose formatted prompt is exactly `n` tokens.
std::string calibrate_prompt(Engine& engine, int n) {
  int words = n;
  for (int tries = 0; tries < 20; ++tries) {
    std::string text;
    for (int i = 0; i < words; ++i) text += i ? " word" : "word";
    const int got = generate_sync(engine, make_request(text, 1, nullptr)).prompt_tokens;
    if (got == n) return text;
    words += n - got;
  }
  return std::string(size_t(n), 'x');
}

struct Measure {
  double tokens_per_s = 0;
  long long tokens = 0;
};

Measure run_requests(Engine& engine, const Args& a, const std::string& text, const TypePtr& type) {
  std::vector<std::future<GenerateResult>> results;
  const int64_t t0 = now_ns();
  for (int i = 0; i < a.requests; ++i) {
    auto p = std::make_shared<std::promise<GenerateResult>>();
    results.push_back(p->get_future());
    engine.submit(make_request(text, a.gen, type), [p](GenerateResult r) { p->set_value(std::move(r)); });
  }
  Measure m;
  for (auto& f : results) {
    GenerateResult r = f.get();
    if (!r.ok()) std::fprintf(stderr, "request failed: %s\n", r.error.c_str());
    m.tokens += r.generated_tokens;
  }
  m.tokens_per_s = double(m.tokens) / (double(now_ns() - t0) / 1e9);
  return m;
}

// llama-batched-bench's generated tokens/s at parallelism p: p * ntg / T (T: its total time, prompt
// included, as in our measure).
double reference(const Args& a, int p) {
  const std::string npl = std::to_string(p);
  const std::string cmd =
      fmt::format("{} -m {} -c {} -b 2048 -npp {} -ntg {} -npl {} -t {} 2>/dev/null", SKEIN_BATCHED_BENCH, a.model,
                  8 * (a.prompt + a.gen + 16), a.prompt, a.gen, npl, a.threads);
  double out = 0;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return out;
  char line[1024];
  while (std::fgets(line, sizeof line, pipe)) {
    int pp, tg, b, nkv;
    double tpp, spp, ttg, stg, t, s;
    if (std::sscanf(line, "| %d | %d | %d | %d | %lf | %lf | %lf | %lf | %lf | %lf", &pp, &tg, &b, &nkv, &tpp, &spp,
                    &ttg, &stg, &t, &s) == 10)
      out = double(b) * tg / t;
  }
  pclose(pipe);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  TypeSet types;
  const TypePtr json_type = types.make(
      "Notes",
      Json::parse(
          R"({"type":"object","properties":{"notes":{"type":"string","minLength":400}},"required":["notes"]})"));
  fmt::print(
      "engine benchmark (best of 3, interleaved): {} requests, prompt {} tokens, generation {} tokens, greedy, {} "
      "threads\n",
      a.requests, a.prompt, a.gen, a.threads);
  fmt::print("model: {} (random weights)\n\n", a.model);
  fmt::print("| parallel | grammar | skein tok/s | llama-batched-bench tok/s | ratio |\n");
  fmt::print("|---------:|:--------|------------:|--------------------------:|------:|\n");
  for (int p : a.parallel) {
    LlamaOptions o;
    o.model_path = a.model;
    o.parallel = p;
    o.context = a.prompt + a.gen + 32;
    o.batch = 2048;
    o.threads = a.threads;
    o.prefix_cache = false;
    auto engine = make_llama_engine("bench", o);
    const std::string text = calibrate_prompt(*engine, a.prompt);
    run_requests(*engine, Args{a.model, p, a.prompt, 4, a.threads, {}}, text, nullptr);  // warm-up
    // Best of three for both sides, interleaved, so a noisy neighbour cannot favour either.
    double r = 0;
    Measure plain, json;
    for (int round = 0; round < 3; ++round) {
      r = std::max(r, reference(a, p));
      const Measure m = run_requests(*engine, a, text, nullptr);
      if (m.tokens_per_s > plain.tokens_per_s) plain = m;
      const Measure j = run_requests(*engine, a, text, json_type);
      if (j.tokens_per_s > json.tokens_per_s) json = j;
    }
    fmt::print("| {:>8} | none    | {:>11.1f} | {:>25.1f} | {:>5.2f} |\n", p, plain.tokens_per_s, r,
               r > 0 ? plain.tokens_per_s / r : 0.0);
    const Json g = engine->stats()["grammar_per_token"];
    fmt::print(
        "| {:>8} | JSON    | {:>11.1f} | {:>25} | {:>5.2f} |  (grammar cost {:+.1f}% measured, {:.1f}% of the "
        "decode thread's time; per token p50 {:.1f} us, p99 {:.1f} us; {} of {} tokens met a new grammar state)\n",
        p, json.tokens_per_s, "", r > 0 ? json.tokens_per_s / r : 0.0,
        (1 - json.tokens_per_s / plain.tokens_per_s) * 100, g.value("mean_us", 0.0) * json.tokens_per_s / 1e4,
        g.value("p50_us", 0.0), g.value("p99_us", 0.0), g.value("new_states", 0), g.value("tokens", 0));
  }
  return 0;
}
