// Every public enum names each of its values (to_string), EnumCount holds exactly its values, and
// enum_from / parse_enum read the names back: the JSON, SQL and HTTP boundaries round-trip.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "skein/error.hpp"
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
}

TEST(EnumNamesTest, NamesAreTheOnesOnTheWire) {
  EXPECT_STREQ(to_string(RunState::crashed), "CRASHED");
  EXPECT_STREQ(to_string(ErrorCode::not_found), "NOT_FOUND");
  EXPECT_STREQ(to_string(RunEventKind::gate_opened), "gate_opened");
  EXPECT_STREQ(to_string(EngineEventKind::start_failed), "start_failed");
  EXPECT_STREQ(to_string(ChainStatus::cancelled), "cancelled");
  EXPECT_STREQ(to_string(RunKind::chain), "chain");
}

TEST(EnumNamesTest, AnUnknownNameFromOutsideIsAnInvalidArgumentNamingIt) {
  EXPECT_EQ(parse_enum<RunEventKind>("node_finished", "event kind"), RunEventKind::node_finished);
  try {
    parse_enum<RunEventKind>("node_finishd", "event kind");
    FAIL() << "accepted";
  } catch (const InvalidArgumentError& e) {
    EXPECT_STREQ(e.what(), "unknown event kind 'node_finishd'");
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
