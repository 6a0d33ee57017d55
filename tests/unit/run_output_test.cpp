// The run folder written on its own thread (chain/run_output.hpp): batches reach their files in
// the order they were handed over, a checkpoint's positions cover every batch before it, and a
// write error fails the run.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chain/flatten.hpp"
#include "chain/run_output.hpp"
#include "scratch.hpp"
#include "skein/error.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Batch i: one output line for node "a" ({"i": i}) and the record's flattened row.
BatchOutput batch(int i, bool checkpoint) {
  BatchOutput b;
  JsonLine line;
  b.lines.add("a", output_line(line, i, std::to_string(i), Json{{"i", i}}));
  flattened_line(Json{{"chain_input", {{"n", i}}}, {"row_id", i}}, std::to_string(i), line);
  b.lines.add("flattened", line.text());
  if (checkpoint) b.run = Json{{"status", "running"}, {"resume", {{"input_position", i + 1}, {"files", nullptr}}}};
  return b;
}

// `n` batches handed over by a coroutine on a loop, a checkpoint after the one numbered `at`;
// returns what put() threw (null: nothing).
std::exception_ptr hand_over(RunOutput& out, int n, int at) {
  asio::io_context io(1);
  std::exception_ptr thrown;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < n; ++i) {
          BatchOutput b = batch(i, i == at);
          co_await out.put(std::move(b));
        }
      },
      [&](std::exception_ptr e) { thrown = e; });
  io.run();
  return thrown;
}

TEST(RunOutputTest, BatchesAreWrittenInOrderAndACheckpointCoversThoseBeforeIt) {
  const fs::path dir = test::scratch_root() / "run_output_order";
  RunWriter writer(dir, 1000);
  writer.start({"a"});
  RunOutput out(writer);
  const int n = int(RunOutput::kBatchesAhead) * 5;  // more than may wait: put() waits for room
  EXPECT_EQ(hand_over(out, n, 6), nullptr);
  out.finish();
  writer.positions();
  std::string expected_a, expected_rows;
  for (int i = 0; i < n; ++i) {
    expected_a += R"({"row_id":)" + std::to_string(i) + R"(,"id":")" + std::to_string(i) + R"(","output":{"i":)" +
                  std::to_string(i) + "}}\n";
    expected_rows += R"({"row_id":)" + std::to_string(i) + R"(,"id":")" + std::to_string(i) + R"(","chain_input.n":)" +
                     std::to_string(i) + "}\n";
  }
  EXPECT_EQ(read(dir / "a" / "000.jsonl"), expected_a);
  EXPECT_EQ(read(dir / "flattened" / "000.jsonl"), expected_rows);
  // The checkpoint after batch 6 counts its 7 lines in each file, and run.json says so.
  const Json& resume = out.last_checkpoint();
  EXPECT_EQ(resume.at("input_position"), 7);
  EXPECT_EQ(resume.at("files").at("a").at("lines"), 7);
  EXPECT_EQ(resume.at("files").at("flattened").at("lines"), 7);
  EXPECT_EQ(Json::parse(read(dir / "run.json")).at("resume"), resume);
}

// A batch's lines handed over (take()) leave the blocks with no lines: empty, and the next batch
// writes its own lines alone, to its own files (a file of the last batch that this one has no line
// for is not touched).
TEST(RunOutputTest, TakenLinesLeaveNoLineBehindAndTheNextBatchWritesOnlyItsOwn) {
  const fs::path dir = test::scratch_root() / "run_output_take";
  RunWriter writer(dir, 1000);
  writer.start({"a", "b", "c"});
  LineBlocks lines;
  lines.add("a", "{\"a\":1}\n");
  lines.add("b", "{\"b\":1}\n");
  LineBlocks first = lines.take();
  EXPECT_TRUE(lines.empty());
  EXPECT_EQ(lines.index("b"), 1u);  // its blocks kept, in their order
  EXPECT_FALSE(first.empty());
  lines.add("b", "{\"b\":2}\n");
  lines.add("c", "{\"c\":2}\n");
  EXPECT_FALSE(lines.empty());
  first.write_to(writer);
  lines.write_to(writer);
  const Json files = writer.positions();
  EXPECT_EQ(read(dir / "a" / "000.jsonl"), "{\"a\":1}\n");
  EXPECT_EQ(read(dir / "b" / "000.jsonl"), "{\"b\":1}\n{\"b\":2}\n");
  EXPECT_EQ(read(dir / "c" / "000.jsonl"), "{\"c\":2}\n");
  EXPECT_EQ(files.at("a").at("lines"), 1);
  EXPECT_EQ(files.at("b").at("lines"), 2);
  EXPECT_EQ(files.at("c").at("lines"), 1);
}

TEST(RunOutputTest, ABlockThatCrossesTheLineLimitRollsOverAtItsLine) {
  const fs::path dir = test::scratch_root() / "run_output_roll";
  RunWriter writer(dir, 3);
  writer.start({"a"});
  LineBlocks lines;
  for (int i = 0; i < 5; ++i) lines.add("a", "{\"n\":" + std::to_string(i) + "}\n");
  lines.write_to(writer);
  writer.positions();
  EXPECT_EQ(read(dir / "a" / "000.jsonl"), "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
  EXPECT_EQ(read(dir / "a" / "001.jsonl"), "{\"n\":3}\n{\"n\":4}\n");
}

TEST(RunOutputTest, AWriteErrorFailsTheRunAndLaterBatchesAreDropped) {
  const fs::path dir = test::scratch_root() / "run_output_full";
  RunWriter writer(dir, 1);  // every line a file of its own: the second goes to a/001.jsonl
  writer.start({"a"});
  fs::create_symlink("/dev/full", dir / "a" / "001.jsonl");  // writing there fails: no space
  RunOutput out(writer);
  // The checkpoint after batch 1 flushes a/001.jsonl: the error. put() or finish() throws it.
  const std::exception_ptr thrown = hand_over(out, 3 * int(RunOutput::kBatchesAhead), 1);
  bool failed = thrown != nullptr;
  try {
    out.finish();
  } catch (const Error& e) {
    failed = true;
    EXPECT_NE(std::string(e.what()).find("cannot write"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(failed);
  EXPECT_TRUE(out.last_checkpoint().is_null());       // none was written
  EXPECT_FALSE(fs::exists(dir / "a" / "002.jsonl"));  // nothing after the error
}

}  // namespace
}  // namespace skein
