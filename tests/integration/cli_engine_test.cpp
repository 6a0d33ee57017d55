// The `cli` backend: one subprocess per request, placeholders, timeouts, and cancellation that
// leaves no process of the request's group (checked in the process listing).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "engine/cli/cli_engine.hpp"
#include "engine/process/subprocess.hpp"
#include "scratch.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

GenerateRequest request(const std::string& user) {
  GenerateRequest r;
  r.messages = {{"system", "sys"}, {"user", user}};
  return r;
}

CliOptions sh(const std::string& script) {
  CliOptions o;
  o.command = {"sh", "-c", script, "sh", "{prompt}", "{schema}"};
  o.log_file = (test::scratch_root() / "cli.log").string();
  return o;
}

TEST(CliEngineTest, StdoutIsTheReplyAndPlaceholdersAreFilledOnce) {
  auto engine = make_cli_engine("echo", sh("printf '%s|%s' \"$1\" \"$2\""));
  GenerateRequest r = request("say {user} and {schema}");
  r.output = TypeSet().make("T", Json::parse(R"({"type":"integer"})"));
  GenerateResult g = generate_sync(*engine, r);
  ASSERT_TRUE(g.ok()) << g.error;
  EXPECT_EQ(g.text, "sys\n\nsay {user} and {schema}|{\"type\":\"integer\"}");
}

TEST(CliEngineTest, ExtractTakesAFieldOfAJsonReply) {
  CliOptions o = sh("echo '{\"result\": \"{\\\"n\\\": 3}\"}'");
  o.extract = "result";
  GenerateResult g = generate_sync(*make_cli_engine("wrapped", o), request("x"));
  ASSERT_TRUE(g.ok()) << g.error;
  EXPECT_EQ(g.text, "{\"n\": 3}");
}

TEST(CliEngineTest, NonZeroExitIsAnErrorQuotingStderr) {
  GenerateResult g = generate_sync(*make_cli_engine("bad", sh("echo 'model not found' >&2; exit 3")), request("x"));
  EXPECT_EQ(g.finish, Finish::error);
  EXPECT_NE(g.error.find("status 3"), std::string::npos) << g.error;
  EXPECT_NE(g.error.find("model not found"), std::string::npos) << g.error;
}

TEST(CliEngineTest, TimeoutKillsTheWholeGroup) {
  const fs::path pidfile = test::scratch_root() / "timeout.pid";
  fs::remove(pidfile);
  CliOptions o = sh("echo $$ > " + pidfile.string() + "; sleep 1000 & sleep 1000; wait");
  o.timeout = std::chrono::milliseconds(300);
  GenerateResult g = generate_sync(*make_cli_engine("slow", o), request("x"));
  EXPECT_EQ(g.finish, Finish::error);
  EXPECT_NE(g.error.find("timed out"), std::string::npos) << g.error;
  std::ifstream in(pidfile);
  pid_t group = 0;
  in >> group;
  ASSERT_GT(group, 1);
  EXPECT_FALSE(process_group_alive(group));
}

TEST(CliEngineTest, CancellingACommandThatRunsForeverLeavesNoProcessOfItsGroup) {
  const fs::path pidfile = test::scratch_root() / "forever.pid";
  fs::remove(pidfile);
  auto engine = make_cli_engine("forever", sh("sleep 1000 & echo $$ > " + pidfile.string() + "; sleep 1000; wait"));
  std::promise<GenerateResult> done;
  auto pending = engine->submit(request("x"), [&](GenerateResult r) { done.set_value(std::move(r)); });
  // Wait for the condition "the command is running": it has written its pid.
  pid_t group = 0;
  while (group <= 1) {
    std::ifstream in(pidfile);
    in >> group;
    std::this_thread::yield();
  }
  ASSERT_TRUE(process_group_alive(group));
  const int64_t at = now_ns();
  pending->cancel();
  GenerateResult g = done.get_future().get();
  EXPECT_EQ(g.finish, Finish::cancelled);
  EXPECT_LT(g.finished_ns - at, 1'000'000'000);
  EXPECT_FALSE(process_group_alive(group)) << "a process of group " << group << " survived the cancel";
}

TEST(CliEngineTest, ParallelRequestsEachGetTheirOwnProcess) {
  CliOptions o = sh("printf '%s' \"$1\"");
  o.parallel = 3;
  auto engine = make_cli_engine("many", o);
  std::vector<std::future<GenerateResult>> results;
  for (int i = 0; i < 9; ++i) {
    auto p = std::make_shared<std::promise<GenerateResult>>();
    results.push_back(p->get_future());
    engine->submit(request(std::to_string(i)), [p](GenerateResult r) { p->set_value(std::move(r)); });
  }
  for (int i = 0; i < 9; ++i) EXPECT_EQ(results[i].get().text, "sys\n\n" + std::to_string(i));
}

}  // namespace
}  // namespace skein
