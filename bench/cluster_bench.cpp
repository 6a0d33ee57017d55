// Cluster coordination benchmark: what PostgreSQL costs per shard, against a private server
// started for the run (Debian's postgresql-15, fsync off as in the tests: on a real server a commit
// adds one WAL flush). One run of `--lines` input lines is submitted in shards of `--shard-size`;
// 1, 2 and 4 worker threads, each with its own connection, then claim a shard, read its input,
// renew its lease once and commit `--output-bytes` per line of output for it, until none is left.
// No chain runs: the figures are the coordination alone (a worker's engine time comes on top).
// Printed: submit time, shards/s and lines/s, and per shard the claim, input, heartbeat and commit
// times (median) and their sum, with the share of a shard's time they would be at 10 ms per record.
//
//   cluster_bench [--lines 200000] [--shard-size 1000] [--output-bytes 200]
#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "cluster/shard_queue.hpp"
#include "postgres_server.hpp"
#include "skein/engine.hpp"

namespace {

using namespace skein;
using namespace skein::cluster;
using namespace std::chrono_literals;

struct Args {
  int lines = 200000, shard_size = 1000, output_bytes = 200;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::stoi(argv[i + 1]);
    if (k == "--lines")
      a.lines = v;
    else if (k == "--shard-size")
      a.shard_size = v;
    else if (k == "--output-bytes")
      a.output_bytes = v;
  }
  return a;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + int64_t(v.size() / 2), v.end());
  return v[v.size() / 2];
}

struct Times {
  std::vector<double> claim, input, heartbeat, commit;  // ms per shard
};

double ms_since(int64_t t0) { return double(now_ns() - t0) / 1e6; }

void work(const std::string& url, const std::string& name, const Args& a, Times& out, std::mutex& mu) {
  ShardQueue q(url);
  const std::string line = "{\"out\": \"" + std::string(size_t(std::max(a.output_bytes - 12, 1)), 'x') + "\"}";
  Times t;
  for (;;) {
    int64_t t0 = now_ns();
    const auto c = q.claim(name, 60s);
    if (!c) break;
    t.claim.push_back(ms_since(t0));
    t0 = now_ns();
    const auto lines = q.input(*c);
    t.input.push_back(ms_since(t0));
    t0 = now_ns();
    q.heartbeat(*c, 60s);
    t.heartbeat.push_back(ms_since(t0));
    ShardResult r;
    std::string text;
    for (size_t i = 0; i < lines.size(); ++i) text += line + "\n";
    r.outputs = {{"step", text}};
    r.counts = {{"in", lines.size()}, {"out", lines.size()}};
    t0 = now_ns();
    if (q.commit(*c, r) != Commit::done) throw std::runtime_error("a commit was fenced");
    t.commit.push_back(ms_since(t0));
  }
  std::lock_guard l(mu);
  for (auto [from, to] : {std::pair{&t.claim, &out.claim},
                          {&t.input, &out.input},
                          {&t.heartbeat, &out.heartbeat},
                          {&t.commit, &out.commit}})
    to->insert(to->end(), from->begin(), from->end());
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  test::PostgresServer server;
  fmt::print(
      "cluster coordination benchmark: {} lines in shards of {}, {} bytes of output per line, "
      "private PostgreSQL 15 (fsync off), 2 cores\n\n",
      a.lines, a.shard_size, a.output_bytes);
  fmt::print(
      "| workers | submit s | shards/s | lines/s | claim ms | input ms | heartbeat ms | commit ms | "
      "per shard ms | share at 10 ms/record |\n");
  fmt::print(
      "|--------:|---------:|---------:|--------:|---------:|---------:|-------------:|----------:|"
      "-------------:|----------------------:|\n");
  std::string input;
  for (int i = 0; i < a.lines; ++i) input += "{\"i\": " + std::to_string(i) + ", \"text\": \"some input text\"}\n";
  for (int workers : {1, 2, 4}) {
    const std::string db = "bench" + std::to_string(workers);
    server.create_database(db);
    ShardQueue q(server.url(db));
    std::istringstream in(input);
    int64_t t0 = now_ns();
    const int shards = q.submit({"r", "chain: bench\n", "h", Json::object()}, in, a.shard_size);
    const double submit_s = double(now_ns() - t0) / 1e9;
    Times t;
    std::mutex mu;
    std::vector<std::thread> threads;
    t0 = now_ns();
    for (int w = 0; w < workers; ++w)
      threads.emplace_back(work, server.url(db), "w" + std::to_string(w), std::cref(a), std::ref(t), std::ref(mu));
    for (auto& th : threads) th.join();
    const double s = double(now_ns() - t0) / 1e9;
    const double per_shard = median(t.claim) + median(t.input) + median(t.heartbeat) + median(t.commit);
    const double shard_ms = 10.0 * a.shard_size;
    fmt::print(
        "| {:>7} | {:>8.2f} | {:>8.0f} | {:>7.0f} | {:>8.2f} | {:>8.2f} | {:>12.2f} | {:>9.2f} | {:>12.2f} | "
        "{:>20.3f}% |\n",
        workers, submit_s, shards / s, a.lines / s, median(t.claim), median(t.input), median(t.heartbeat),
        median(t.commit), per_shard, 100 * per_shard / shard_ms);
  }
}
