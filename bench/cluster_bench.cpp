// Cluster coordination benchmark: what PostgreSQL costs per shard, against a private server
// started for the run (Debian's postgresql-15, fsync off as in the tests: on a real server a commit
// adds one WAL flush). One run of `--lines` input lines is submitted in shards of `--shard-size`;
// 1, 2 and 4 worker threads, each with its own connection, then claim a shard, read its input,
// renew its lease once and commit `--output-bytes` per line of output for it, until none is left.
// No chain runs: the figures are the coordination alone (a worker's engine time comes on top).
// Printed: submit time, shards/s and lines/s, and per shard the claim, input, heartbeat and commit
// times (median) and their sum, with the share of a shard's time they would be at 10 ms per record.
// Then whole chains on worker threads with instant engines: (b) records/s with 1, 2 and 4 workers
// against one local run, (c) the takeover of a vanished worker's shard against its lease, and (d)
// a run with the response cache in the database, then its re-run answered from it; (e) the run
// store of hosts, SQLite against PostgreSQL.
//
//   cluster_bench [--lines 200000] [--shard-size 1000] [--output-bytes 200] [--store-only 1]
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <filesystem>
#include <fstream>

#include "chain/run_state.hpp"
#include "cluster/pg_run_store.hpp"
#include "cluster/shard_cutter.hpp"
#include "cluster/shard_queue.hpp"
#include "cluster/worker.hpp"
#include "postgres_server.hpp"
#include "runtime/sqlite_run_store.hpp"
#include "skein/engine.hpp"
#include "test_engine.hpp"

namespace {

using namespace skein;
using namespace skein::cluster;
using namespace std::chrono_literals;

struct Args {
  int lines = 200000, shard_size = 1000, output_bytes = 200;
  bool store_only = false;  // --store-only 1: part (e) alone
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
    else if (k == "--store-only")
      a.store_only = v != 0;
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

// (b) and (c): whole chains on worker threads, each with its own broker of instant engines.
const char* kChain = R"(chain: bench
input: {type: object, properties: {i: {type: integer}}, required: [i]}
steps:
  - step: a
    output: {type: object, properties: {a: {type: integer}}, required: [a]}
    user: "record {{ chain_input.i }}"
    sampling: {temperature: 0}
)";

Broker::Factory instant() {
  return [](const EngineConfig& c) { return std::make_unique<test::TestEngine>(c.name, R"({"a": 1})"); };
}

std::string submit_chain(ShardQueue& q, const Chain& chain, const std::string& id, const std::string& input,
                         int shard_size, bool cache = false) {
  std::istringstream in(input);
  ShardCutter cutter(chain, in, "in.jsonl", 64, size_t(shard_size), false);
  q.submit({id, kChain, chain.file_sha256, {{"batch_size", 64}, {"cache", cache}, {"started_at", utc_now()}}},
           [&] { return cutter.next(); });
  return id;
}

// Runs `workers` Worker threads on run `id` until it is done; seconds.
double work_chain(const std::string& url, const std::string& id, int workers, std::chrono::milliseconds lease) {
  std::vector<std::unique_ptr<Worker>> ws;
  for (int w = 0; w < workers; ++w) {
    WorkerOptions o;
    o.url = url;
    o.lease = lease;
    o.only_run = id;
    o.factory = instant();
    ws.push_back(std::make_unique<Worker>(o));
  }
  const int64_t t0 = now_ns();
  std::vector<std::thread> threads;
  for (auto& w : ws) threads.emplace_back([&w] { w->run(); });
  for (auto& t : threads) t.join();
  return double(now_ns() - t0) / 1e9;
}

void chain_table(test::PostgresServer& server, const Args& a) {
  const int records = std::min(a.lines, 50000);
  const Chain chain = parse_chain(kChain, "bench.yaml");
  std::string input;
  for (int i = 0; i < records; ++i) input += "{\"i\": " + std::to_string(i) + "}\n";
  const auto dir = std::filesystem::temp_directory_path() / ("skein-cluster-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "in.jsonl") << input;
  Broker broker({}, instant());
  RunOptions o;
  o.input_path = (dir / "in.jsonl").string();
  o.output_dir = (dir / "out").string();
  o.batch_size = 64;
  o.broker = &broker;
  int64_t t0 = now_ns();
  run_chain(chain, o);
  const double local_s = double(now_ns() - t0) / 1e9;
  std::filesystem::remove_all(dir);
  fmt::print("\n(b) a 1-step chain on an instant engine, {} records in shards of {}, worker threads\n\n", records,
             a.shard_size);
  fmt::print("| workers | s | records/s | vs one local run |\n|--------:|--:|----------:|-----------------:|\n");
  fmt::print("| local run | {:.2f} | {:.0f} | 1.00 |\n", local_s, records / local_s);
  for (int workers : {1, 2, 4}) {
    const std::string db = "chain" + std::to_string(workers);
    server.create_database(db);
    ShardQueue q(server.url(db));
    submit_chain(q, chain, "r", input, a.shard_size);
    const double s = work_chain(server.url(db), "r", workers, 10s);
    fmt::print("| {} | {:.2f} | {:.0f} | {:.2f} |\n", workers, s, records / s, local_s / s);
  }

  fmt::print("\n(c) takeover: a worker holds the only shard and vanishes; another takes it over and commits\n\n");
  fmt::print("| lease ms | takeover s | / lease | goal |\n|---------:|-----------:|--------:|-----:|\n");
  for (int lease_ms : {1000, 3000}) {
    const std::string db = "takeover" + std::to_string(lease_ms);
    server.create_database(db);
    ShardQueue q(server.url(db));
    submit_chain(q, chain, "r", input.substr(0, input.find('\n', 1000 * 12) + 1), 1000000);
    const auto lease = std::chrono::milliseconds(lease_ms);
    t0 = now_ns();
    if (!q.claim("vanished", lease)) throw std::runtime_error("nothing to claim");
    work_chain(server.url(db), "r", 1, lease);  // returns when the shard is committed
    const double s = double(now_ns() - t0) / 1e9;
    fmt::print("| {} | {:.2f} | {:.2f} | <= 2.00 |\n", lease_ms, s, s * 1000 / lease_ms);
  }

  fmt::print("\n(d) the same chain with the response cache in the database, 2 worker threads\n\n");
  fmt::print("| run | s | records/s |\n|-----|--:|----------:|\n");
  server.create_database("cache");
  ShardQueue cq(server.url("cache"));
  for (const char* run : {"first: every call asked and kept", "again: every call answered from the cache"}) {
    submit_chain(cq, chain, run, input, a.shard_size, true);
    const double s = work_chain(server.url("cache"), run, 2, 10s);
    fmt::print("| {} | {:.2f} | {:.0f} |\n", run, s, records / s);
  }
}

// (e): what a host's run store takes. Each graph run of 3 nodes as the registry records it: its head
// when submitted, a checkpoint per node (one trace entry and its timing), 2 events and 1 ledger
// entry per node, its head when done: 11 items. `hosts` stores (threads) write `runs` runs in all.
double store_runs(const std::function<std::unique_ptr<RunStore>()>& open, int hosts, int runs) {
  std::vector<std::unique_ptr<RunStore>> stores;
  for (int h = 0; h < hosts; ++h) stores.push_back(open());
  const int64_t t0 = now_ns();
  std::vector<std::thread> threads;
  for (int h = 0; h < hosts; ++h)
    threads.emplace_back([&, h] {
      RunStore& s = *stores[h];
      for (int i = 0; i < runs / hosts; ++i) {
        StoredRun r;
        r.head.id = s.allocate_id(RunKind::graph);
        r.head.kind = RunKind::graph;
        r.head.input = {{"title", "a run of the store benchmark"}};
        s.put(r);
        for (int n = 0; n < 3; ++n) {
          StoredRun step;
          step.head.id = r.head.id, step.head.kind = RunKind::graph, step.steps_only = true;
          step.trace_from = step.nodes_from = size_t(n);
          step.trace.push_back({"Node" + std::to_string(n), {{"text", "a field the model filled"}}});
          step.nodes.push_back(NodeTiming{});
          s.put(std::move(step));
          s.put(RunEvent{r.head.id, uint64_t(2 * n + 1), now_ns(), RunEventKind::node_started, {{"node", n}}});
          s.put(RunEvent{r.head.id, uint64_t(2 * n + 2), now_ns(), RunEventKind::node_finished, {{"node", n}}});
          s.put(LedgerRow{r.head.id, {n, LedgerKind::fill, ""}, {{"reply", "{\"text\": \"…\"}"}}, nullptr});
        }
        r.head.state = RunState::done;
        s.put(std::move(r));
      }
      s.flush();
    });
  for (auto& t : threads) t.join();
  return double(now_ns() - t0) / 1e9;
}

void store_table(test::PostgresServer& server) {
  constexpr int kRuns = 20000;
  fmt::print("\n(e) the run store: {} graph runs of 3 nodes, 11 items each, written by 1 or 2 hosts\n\n", kRuns);
  fmt::print("| store | hosts | s | runs/s | items/s |\n|-------|------:|--:|-------:|--------:|\n");
  const auto dir = std::filesystem::temp_directory_path() / ("skein-store-bench-" + std::to_string(::getpid()));
  for (int hosts : {1, 2}) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const double s = store_runs([&] { return std::make_unique<runtime::SqliteRunStore>(dir / "runs.sqlite", 100000); },
                                hosts, kRuns);
    fmt::print("| SQLite (one file) | {} | {:.2f} | {:.0f} | {:.0f} |\n", hosts, s, kRuns / s, 11 * kRuns / s);
  }
  std::filesystem::remove_all(dir);
  for (int hosts : {1, 2}) {
    const std::string db = "store" + std::to_string(hosts);
    server.create_database(db);
    const double s = store_runs([&] { return std::make_unique<PgRunStore>(server.url(db), 100000); }, hosts, kRuns);
    fmt::print("| PostgreSQL | {} | {:.2f} | {:.0f} | {:.0f} |\n", hosts, s, kRuns / s, 11 * kRuns / s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  test::PostgresServer server;
  if (a.store_only) {
    store_table(server);
    return 0;
  }
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
  chain_table(server, a);
  store_table(server);
}
