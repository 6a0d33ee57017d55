// Every public enum names each of its values (to_string), EnumCount holds exactly its values, and
// enum_from / parse_enum read the names back: the JSON, SQL and HTTP boundaries round-trip.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "skein/error.hpp"
#include "skein/graph.hpp"
#include "skein/graph_run.hpp"
#include "skein/run_registry.hpp"
#include "skein/timing_lm.hpp"

namespace skein {
namespace {

template <typename E>
void expect_round_trip() {
  std::set<std::string> names;
  for (int i = 0; i < EnumCount<E>::value; ++i) {
    const std::string name = to_string(E(i));
    EXPECT_NE(name, "?") << "value " << i << " has no name";
    EXPECT_TRUE(names.insert(name).second) << name << " names two values";
    EXPECT_EQ(enum_from<E>(name), E(i)) << name;
  }
  EXPECT_STREQ(to_string(E(EnumCount<E>::value)), "?") << "EnumCount is short of the enum's values";
  EXPECT_EQ(enum_from<E>("no such name"), std::nullopt);
}

TEST(EnumNamesTest, EveryPublicEnumRoundTripsThroughItsNames) {
  expect_round_trip<ErrorCode>();
  expect_round_trip<Finish>();
  expect_round_trip<EngineState>();
  expect_round_trip<EngineEventKind>();
  expect_round_trip<ApplyKind>();
  expect_round_trip<ChainStatus>();
  expect_round_trip<LedgerKind>();
  expect_round_trip<LMCall>();
  expect_round_trip<RunKind>();
  expect_round_trip<RunState>();
  expect_round_trip<RunEventKind>();
  expect_round_trip<FieldSource>();
  expect_round_trip<Verbosity>();
}

template <typename E>
std::vector<std::string> names() {
  std::vector<std::string> out;
  for (int i = 0; i < EnumCount<E>::value; ++i) out.push_back(to_string(E(i)));
  return out;
}

// The names on the wire (run folders, stores, the HTTP API, SSE), pinned: a rename is a format change.
TEST(EnumNamesTest, NamesAreTheOnesOnTheWire) {
  using V = std::vector<std::string>;
  EXPECT_EQ(names<ErrorCode>(), (V{"UNKNOWN", "CANCELLED", "INVALID_ARGUMENT", "INVALID_VALUE", "DEADLINE_EXCEEDED",
                                   "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "PERMISSION_DENIED",
                                   "UNAUTHENTICATED", "RESOURCE_EXHAUSTED", "UNAVAILABLE"}));
  EXPECT_EQ(names<Finish>(), (V{"stop", "length", "cancelled", "error"}));
  EXPECT_EQ(names<EngineState>(), (V{"stopped", "starting", "ready", "stopping"}));
  EXPECT_EQ(names<EngineEventKind>(),
            (V{"starting", "started", "start_failed", "released", "evicted", "leased_at_close"}));
  EXPECT_EQ(names<ApplyKind>(), (V{"filter", "map", "explode", "exec", "native"}));
  EXPECT_EQ(names<ChainStatus>(), (V{"running", "done", "failed", "cancelled"}));
  EXPECT_EQ(names<FieldSource>(), (V{"plain", "dep", "recall", "gate"}));
  EXPECT_EQ(names<LedgerKind>(), (V{"choose", "dep", "fill", "gate", "make"}));
  EXPECT_EQ(names<LMCall>(), (V{"choose", "fill"}));
  EXPECT_EQ(names<RunKind>(), (V{"graph", "chain"}));
  EXPECT_EQ(names<RunState>(), (V{"PENDING", "RUNNING", "WAITING", "DONE", "FAILED", "CANCELLED", "CRASHED"}));
  EXPECT_EQ(names<RunEventKind>(), (V{"started", "node_started", "node_finished", "dep_finished", "lm_call",
                                      "gate_opened", "gate_answered", "done", "failed", "cancelled"}));
  EXPECT_EQ(names<Verbosity>(), (V{"silent", "quiet", "normal", "verbose"}));
}

TEST(EnumNamesTest, AnUnknownNameInStoredDataIsAnErrorNamingIt) {
  EXPECT_EQ(parse_enum<RunEventKind>("node_finished", "event kind"), RunEventKind::node_finished);
  try {
    parse_enum<RunEventKind>("node_finishd", "event kind");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::unknown);
    EXPECT_STREQ(e.what(), "unknown event kind 'node_finishd' (written by another version of Skein?)");
  }
}

TEST(EnumNamesTest, EachEventKindHasItsVerbosity) {
  EXPECT_EQ(event_level(RunEventKind::gate_opened), Verbosity::quiet);
  EXPECT_EQ(event_level(RunEventKind::node_finished), Verbosity::normal);
  EXPECT_EQ(event_level(RunEventKind::lm_call), Verbosity::verbose);
  int final = 0;
  for (int i = 0; i < EnumCount<RunEventKind>::value; ++i) final += is_final(RunEventKind(i));
  EXPECT_EQ(final, 3);
}

}  // namespace
}  // namespace skein
