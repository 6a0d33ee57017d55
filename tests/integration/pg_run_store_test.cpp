// The run store in PostgreSQL against a real server (a private one per test suite): what one host
// writes another reads back exactly (head, steps, events, ledger, listing), ids unique across
// hosts taking them at once, the runs of a host that is gone (and only those) CRASHED, a run
// adopted by one host only and refusing its former host's rows, connections cut and made again,
// retention across hosts, and two registries sharing one store.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "cluster/pg_run_store.hpp"
#include "postgres_test.hpp"
#include "skein/run_store.hpp"

namespace skein::cluster {
namespace {

using PgRunStoreTest = test::PostgresTest<>;

// Ends every other connection to the test's database, waiting until each backend is gone.
void cut_connections(pg::Connection& admin) {
  admin.exec(
      "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = current_database()"
      " AND pid <> pg_backend_pid()");
}

// The hosts' locks held now.
int host_locks(pg::Connection& admin) {
  return int(admin.exec("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 7368208 AND granted")
                 .integer(0, 0));
}

StoredRun graph_run(const std::string& id, RunState state, int nodes) {
  StoredRun r;
  r.head.id = id;
  r.head.kind = RunKind::graph;
  r.head.state = state;
  r.head.input = {{"title", id}};
  r.all = true;
  for (int i = 0; i < nodes; ++i) {
    r.trace.push_back({"N" + std::to_string(i), {{"i", i}}});
    NodeTiming t;
    t.index = i, t.node = "N" + std::to_string(i), t.tokens.generated = 10;
    r.nodes.push_back(t);
  }
  return r;
}

TEST_F(PgRunStoreTest, WhatOneHostWritesAnotherReadsBackExactly) {
  PgRunStore a(url(), 100), b(url(), 100);
  a.put(graph_run("g1", RunState::waiting, 2));
  StoredRun more = graph_run("g1", RunState::waiting, 0);  // a node checkpoint: one step more
  more.all = false, more.steps_only = true, more.trace_from = 2, more.nodes_from = 2;
  more.trace.push_back({"N2", {{"i", 2}}});
  more.nodes.push_back(NodeTiming{});
  more.nodes.back().index = 2, more.nodes.back().node = "N2", more.nodes.back().tokens.generated = 5;
  a.put(more);
  a.put(RunEvent{"g1", 1, 11, RunEventKind::started, {{"x", 1}}});
  a.put(RunEvent{"g1", 2, 12, RunEventKind::node_finished, {{"node", "N0"}}});
  a.put(LedgerRow{"g1", {1, LedgerKind::fill, ""}, {{"v", 1}}, nullptr});
  a.put(LedgerRow{"g1", {1, LedgerKind::fill, ""}, {{"v", 2}}, nullptr});  // recorded again: the later one
  a.put(LedgerRow{"g1", {2, LedgerKind::dep, "check"}, "checked", nullptr});
  a.flush();
  b.put(graph_run("g2", RunState::done, 1));  // after g1: the newer one
  b.flush();

  const auto run = b.load("g1");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->state, RunState::waiting);
  EXPECT_EQ(run->input["title"], "g1");
  ASSERT_EQ(run->trace.size(), 3u);
  EXPECT_EQ(run->trace[2].type, "N2");
  EXPECT_EQ(run->tokens.generated, 25);  // from its steps: the head was written before the checkpoint
  const auto events = b.events("g1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind, RunEventKind::node_finished);
  EXPECT_EQ(events[1].data["node"], "N0");
  const auto ledger = b.ledger("g1");
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger.at(LedgerKey{1, LedgerKind::fill, ""})["v"], 2);
  EXPECT_EQ(ledger.at(LedgerKey{2, LedgerKind::dep, "check"}), "checked");
  EXPECT_EQ(a.state("g2"), RunState::done);
  EXPECT_FALSE(a.load("g9"));
  const auto recent = a.recent(10);
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].id, "g2");  // newest first
  EXPECT_EQ(recent[1].id, "g1");
  EXPECT_GT(a.bytes_in_use(), 0u);
}

TEST_F(PgRunStoreTest, AHostNeverOverwritesAnothersRun) {
  PgRunStore a(url(), 100), b(url(), 100);
  a.put(graph_run("g1", RunState::waiting, 2));
  a.flush();
  b.put(graph_run("g1", RunState::failed, 5));  // not b's: neither its head nor its steps are written
  b.flush();
  const auto run = a.load("g1");
  EXPECT_EQ(run->state, RunState::waiting);
  EXPECT_EQ(run->trace.size(), 2u);
}

TEST_F(PgRunStoreTest, IdsTakenAtOnceByTwoHostsAreNeverTheSame) {
  PgRunStore a(url(), 100), b(url(), 100);
  std::vector<std::string> ids[4];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      PgRunStore& s = t % 2 ? b : a;
      for (int i = 0; i < 300; ++i) ids[t].push_back(s.allocate_id(i % 3 ? RunKind::graph : RunKind::chain));
    });
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& v : ids) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 1200u);
}

TEST_F(PgRunStoreTest, OnlyTheRunsOfAHostThatIsGoneAreCrashedAndOneHostAdoptsEach) {
  {
    PgRunStore gone(url(), 100);
    gone.put(graph_run("g1", RunState::waiting, 1));
    gone.put(graph_run("g2", RunState::done, 1));
    gone.flush();
  }  // closed with g1 unfinished: as good as killed for whoever opens next
  PgRunStore live(url(), 100);
  live.put(graph_run("g3", RunState::running, 1));
  live.flush();
  PgRunStore a(url(), 100), b(url(), 100);
  EXPECT_TRUE(live.crashed() == std::vector<std::string>{"g1"});
  EXPECT_TRUE(a.crashed().empty());  // g1 was marked already; g3's host is alive
  EXPECT_EQ(a.state("g1"), RunState::crashed);
  EXPECT_EQ(a.load("g1")->error, "Skein stopped while the run was unfinished");
  EXPECT_EQ(a.state("g3"), RunState::running);
  EXPECT_EQ(a.adopt({"g1", "g2", "g3"}), std::set<std::string>{"g1"});  // g2 DONE, g3 another's and running
  EXPECT_TRUE(b.adopt({"g1"}).empty());
  EXPECT_EQ(b.state("g1"), RunState::pending);
  a.put(graph_run("g1", RunState::done, 3));  // now a's to write
  a.flush();
  EXPECT_EQ(b.load("g1")->trace.size(), 3u);
}

TEST_F(PgRunStoreTest, AHostWhoseConnectionsWereCutReconnectsHoldsItsLockAgainAndLosesNothing) {
  PgRunStore a(url(), 100);
  a.put(graph_run("g1", RunState::waiting, 1));
  a.flush();
  pg::Connection admin(url());
  cut_connections(admin);
  EXPECT_EQ(a.load("g1")->trace.size(), 1u);  // the session made again
  PgRunStore b(url(), 100);
  EXPECT_TRUE(b.crashed().empty());  // a was seen just now: reconnecting, not gone
  EXPECT_EQ(b.state("g1"), RunState::waiting);
  // a's keeper takes its lock again (b holds its own).
  const int64_t deadline = now_ns() + 4 * std::chrono::nanoseconds(PgRunStore::kKeepEvery).count();
  while (host_locks(admin) < 2 && now_ns() < deadline) std::this_thread::yield();
  EXPECT_EQ(host_locks(admin), 2);
  cut_connections(admin);
  a.put(graph_run("g1", RunState::waiting, 3));  // the writer makes its connection again
  a.put(RunEvent{"g1", 1, 1, RunEventKind::started, Json::object()});
  a.flush();
  EXPECT_EQ(b.load("g1")->trace.size(), 3u);
  EXPECT_EQ(b.events("g1").size(), 1u);
}

TEST_F(PgRunStoreTest, AnAdoptedRunTakesNoMoreRowsFromItsFormerHost) {
  // A host cut off (its keeper never comes: its lock is not taken again) that goes on writing.
  PgRunStore gone(url(), 100, 0, std::chrono::hours(1));
  gone.put(graph_run("g1", RunState::waiting, 1));
  gone.flush();
  pg::Connection admin(url());
  cut_connections(admin);
  admin.exec("UPDATE skein_store_hosts SET seen = now() - interval '1 hour'");  // unseen since
  PgRunStore other(url(), 100);
  ASSERT_EQ(other.crashed(), std::vector<std::string>{"g1"});
  ASSERT_EQ(other.adopt({"g1"}), std::set<std::string>{"g1"});
  // Each kind of row alone in its batch, so the database refuses them (not the writer's memory).
  StoredRun step = graph_run("g1", RunState::waiting, 0);
  step.all = false, step.steps_only = true, step.trace_from = 1;
  step.trace.push_back({"Stale", Json::object()});
  StoredRun all = graph_run("g1", RunState::waiting, 2);
  all.steps_only = true;  // every step replaced
  gone.put(step);
  gone.flush();
  gone.put(all);
  gone.flush();
  gone.put(RunEvent{"g1", 7, 1, RunEventKind::started, Json::object()});
  gone.put(LedgerRow{"g1", {9, LedgerKind::fill, ""}, 1, nullptr});
  gone.flush();
  gone.put(graph_run("g1", RunState::failed, 4));
  gone.flush();
  const auto run = other.load("g1");
  EXPECT_EQ(run->state, RunState::pending);
  EXPECT_EQ(run->trace.size(), 1u);
  EXPECT_TRUE(other.events("g1").empty());
  EXPECT_TRUE(other.ledger("g1").empty());
}

TEST_F(PgRunStoreTest, RetentionKeepsTheNewestFinishedRunsOfAllHostsWithTheirRows) {
  PgRunStore a(url(), 5), b(url(), 5);
  for (int i = 1; i <= 12; ++i) {
    PgRunStore& s = i % 2 ? a : b;
    const std::string id = "g" + std::to_string(i);
    s.put(graph_run(id, i == 1 ? RunState::running : RunState::done, 2));
    s.put(RunEvent{id, 1, 1, RunEventKind::started, Json::object()});
    s.put(LedgerRow{id, {1, LedgerKind::fill, ""}, 1, nullptr});
    s.flush();  // in this order across hosts
  }
  EXPECT_EQ(a.count(), 6u);  // 5 finished and the unfinished g1
  EXPECT_EQ(a.state("g1"), RunState::running);
  for (int i = 2; i <= 7; ++i) {
    const std::string id = "g" + std::to_string(i);
    EXPECT_FALSE(a.load(id)) << id;
    EXPECT_TRUE(a.events(id).empty()) << id;
    EXPECT_TRUE(a.ledger(id).empty()) << id;
  }
  EXPECT_EQ(b.load("g12")->trace.size(), 2u);
}

TEST_F(PgRunStoreTest, ABoundOnBytesIsRefusedWithTheReason) {
  try {
    PgRunStore s(url(), 100, 1 << 20);
    FAIL() << "accepted";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("--retention"), std::string::npos) << e.what();
  }
}

TEST_F(PgRunStoreTest, TwoRegistriesOnOneStoreSeeEachOthersRuns) {
  RegistryOptions o;
  o.shared_store = std::make_shared<PgRunStore>(url(), 100);
  RegistryOptions p;
  p.shared_store = std::make_shared<PgRunStore>(url(), 100);
  RunRegistry one(o), two(p);
  o.shared_store->put(graph_run("g77", RunState::done, 2));  // as if a third host wrote it
  o.shared_store->flush();
  const auto listed = two.list_with_store(10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, "g77");
  EXPECT_EQ(one.get("g77")->trace.size(), 2u);
}

}  // namespace
}  // namespace skein::cluster
