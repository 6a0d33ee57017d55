// The cluster's shard queue against a real PostgreSQL server (a private one per test suite): input
// stored in shards and read back exactly, claims that never overlap, leases that run out and are
// claimed again, commits fenced by the attempt (a stale worker never commits, a shard is committed
// once), cancel through NOTIFY, and a connection that sees the server go away.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "cluster/shard_queue.hpp"
#include "postgres_test.hpp"

namespace skein::cluster {
namespace {

using namespace std::chrono_literals;

class ShardQueueTest : public test::PostgresTest<> {
 protected:
  // Submits `text` as run `id` in shards of `shard_size` lines; the number of shards.
  static int submit(ShardQueue& q, const std::string& text, int shard_size, const std::string& id = "r") {
    std::istringstream in(text);
    return q.submit(spec(id), in, shard_size);
  }
  static RunSpec spec(const std::string& id) { return {id, "chain: c\nsteps: []\n", "hash-" + id, {{"batch", 8}}}; }
};

// Lines COPY must escape (tabs, backslashes), a bad JSON line, an empty one, and non-ASCII text.
std::vector<std::string> sample_lines(int n) {
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) {
    if (i % 97 == 5)
      lines.push_back("not json \\ \t tab");
    else if (i % 101 == 7)
      lines.push_back("");
    else
      lines.push_back("{\"i\": " + std::to_string(i) + ", \"t\": \"Zoë \\\\ \\t 東京\"}");
  }
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return text;
}

TEST_F(ShardQueueTest, InputIsStoredInShardsAndEachShardGivesBackItsLinesExactly) {
  ShardQueue q(url());
  const auto lines = sample_lines(2500);
  ASSERT_EQ(submit(q, joined(lines), 1000, "r1"), 3);
  EXPECT_EQ(q.run("r1")->chain_hash, "hash-r1");
  EXPECT_EQ(q.run("r1")->options["batch"], 8);
  std::vector<std::string> back;
  for (int expect = 0; expect < 3; ++expect) {
    const auto c = q.claim("w", 60s);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->shard, expect);
    EXPECT_EQ(c->attempt, 1);
    EXPECT_EQ(c->first_line, 1 + 1000LL * expect);
    EXPECT_EQ(c->lines, expect < 2 ? 1000 : 500);
    for (auto& l : q.input(*c)) back.push_back(l);
  }
  EXPECT_FALSE(q.claim("w", 60s));
  EXPECT_EQ(back, lines);
  EXPECT_THROW(submit(q, "x\n", 10, "r1"), AlreadyExistsError);  // the id is taken
}

TEST_F(ShardQueueTest, AnExpiredLeaseIsClaimedAgainAndTheStaleWorkerCanNeitherHeartbeatNorCommit) {
  ShardQueue q(url());
  ASSERT_EQ(submit(q, "a\nb\n", 10), 1);
  const auto stale = q.claim("w1", 1ms);
  ASSERT_TRUE(stale);
  // The condition: the lease ran out, so the shard is claimable again (the database's clock).
  std::optional<Claim> fresh;
  for (auto deadline = std::chrono::steady_clock::now() + 10s; !fresh && std::chrono::steady_clock::now() < deadline;)
    fresh = q.claim("w2", 60s);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->shard, stale->shard);
  EXPECT_EQ(fresh->attempt, 2);
  EXPECT_FALSE(q.heartbeat(*stale, 60s));
  ShardResult r;
  r.outputs = {{"step", "{\"x\": 1}\n"}};
  EXPECT_EQ(q.commit(*stale, r), Commit::fenced);
  EXPECT_TRUE(q.heartbeat(*fresh, 60s));
  EXPECT_EQ(q.commit(*fresh, r), Commit::done);
  EXPECT_EQ(q.commit(*fresh, r), Commit::fenced);  // once
  const RunProgress p = q.progress("r");
  EXPECT_EQ(p.state, ChainStatus::done);
  EXPECT_EQ(p.retries, 1);
  EXPECT_EQ(p.lines_done, 2);
  const auto results = q.results("r");
  ASSERT_TRUE(results);
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ((*results)[0].outputs, r.outputs);
}

TEST_F(ShardQueueTest, FourWorkersTakeEveryShardOnceAndNeverTheSameOne) {
  {
    ShardQueue q(url());
    ASSERT_EQ(submit(q, joined(sample_lines(2000)), 10), 200);
  }
  std::mutex mu;
  std::map<int, int> taken;  // shard -> claims
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&, w] {
      ShardQueue q(url());
      while (auto c = q.claim("w" + std::to_string(w), 60s)) {
        {
          std::lock_guard l(mu);
          ++taken[c->shard];
        }
        ShardResult r;
        r.counts = {{"in", c->lines}};
        r.outputs = {{"step", std::to_string(c->shard) + "\n"}};
        EXPECT_EQ(q.commit(*c, r), Commit::done);
      }
    });
  for (auto& t : workers) t.join();
  ASSERT_EQ(taken.size(), 200u);
  for (const auto& [shard, n] : taken) EXPECT_EQ(n, 1) << "shard " << shard;
  ShardQueue q(url());
  const RunProgress p = q.progress("r");
  EXPECT_EQ(p.done, 200);
  EXPECT_EQ(p.retries, 0);
  const auto results = q.results("r");
  ASSERT_TRUE(results);
  for (size_t i = 0; i < results->size(); ++i) {
    EXPECT_EQ((*results)[i].outputs.at(0).second, std::to_string(i) + "\n");  // in shard order
    EXPECT_EQ((*results)[i].counts["in"], 10);
  }
}

TEST_F(ShardQueueTest, ACancelReachesListenersAndEndsTheLeases) {
  ShardQueue q(url());
  ASSERT_EQ(submit(q, "a\nb\nc\n", 1), 3);
  const auto held = q.claim("w", 60s);
  ASSERT_TRUE(held);
  pg::Connection listener(url());
  listener.exec("LISTEN skein_cancel");
  ShardQueue(url()).cancel("r");  // from another connection (another process, in real use)
  const auto got = listener.wait(5s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].channel, "skein_cancel");
  EXPECT_EQ(got[0].payload, "r");
  EXPECT_FALSE(q.heartbeat(*held, 60s));
  EXPECT_EQ(q.commit(*held, {}), Commit::fenced);
  EXPECT_FALSE(q.claim("w", 60s));
  EXPECT_EQ(q.progress("r").state, ChainStatus::cancelled);
  EXPECT_FALSE(q.results("r"));
}

TEST_F(ShardQueueTest, AServerRestartLosesTheConnectionButNotTheWork) {
  std::optional<Claim> c;
  {
    ShardQueue q(url());
    ASSERT_EQ(submit(q, "a\nb\n", 1), 2);
    c = q.claim("w", 60s);
    ASSERT_TRUE(c);
    server_->stop("immediate");
    try {
      q.progress("r");
      ADD_FAILURE() << "no error with the server down";
    } catch (const pg::Error& e) {
      EXPECT_TRUE(e.lost()) << e.what();
    }
    server_->start();
  }
  ShardQueue q(url());  // a new connection: the run, its claim and the other shard are there
  EXPECT_TRUE(q.heartbeat(*c, 60s));
  EXPECT_EQ(q.commit(*c, {}), Commit::done);
  const auto other = q.claim("w", 60s);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->shard, 1 - c->shard);
  EXPECT_THROW(pg::Connection("postgresql:///nope?host=/nonexistent"), pg::Error);
}

}  // namespace
}  // namespace skein::cluster
