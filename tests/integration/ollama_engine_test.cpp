// The `ollama` backend against a stand-in for Ollama's /api/chat (no Ollama can be installed
// here): a real HTTP server on 127.0.0.1 (Boost.Beast) that records each request and answers as
// Ollama does. Pins the request Skein sends and the unload on release.
#include <gtest/gtest.h>

#include "engine/ollama/ollama_engine.hpp"
#include "fake_http_server.hpp"

namespace skein {
namespace {

// Answers as Ollama's /api/chat does.
class FakeOllama : public test::FakeHttpServer {
 public:
  FakeOllama()
      : FakeHttpServer(R"({"model":"m","message":{"role":"assistant","content":"{\"n\":4}"},"done":true,
                          "done_reason":"stop","prompt_eval_count":12,"eval_count":5})") {}
};

OllamaOptions options(const FakeOllama& server) {
  OllamaOptions o;
  o.endpoint = server.endpoint();
  o.model = "qwen2.5:1.5b";
  o.keep_alive = 60;
  o.retry = {2, 0.001, 0.01};
  return o;
}

GenerateRequest request() {
  GenerateRequest r;
  r.messages = {{"system", "s"}, {"user", "u"}};
  r.output =
      TypeSet().make("T", Json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})"));
  r.sampling.temperature = 0.3f;
  r.sampling.max_tokens = 50;
  r.sampling.seed = 9;
  r.sampling.stop = {"\n\n"};
  return r;
}

TEST(OllamaEngineTest, SendsSchemaAsFormatAndKeepAliveAndReadsTheReply) {
  FakeOllama server;
  auto engine = make_ollama_engine("ollama", options(server));
  GenerateResult g = generate_sync(*engine, request());
  ASSERT_TRUE(g.ok()) << g.error;
  EXPECT_EQ(g.text, "{\"n\":4}");
  EXPECT_EQ(g.prompt_tokens, 12);
  EXPECT_EQ(g.generated_tokens, 5);
  const Json sent = server.requests().at(0);
  EXPECT_EQ(sent["model"], "qwen2.5:1.5b");
  EXPECT_EQ(sent["stream"], false);
  EXPECT_EQ(sent["keep_alive"], "60s");
  EXPECT_EQ(sent["format"]["required"], Json::array({"n"}));
  EXPECT_EQ(sent["options"]["num_predict"], 50);
  EXPECT_EQ(sent["options"]["seed"], 9);
  EXPECT_EQ(sent["options"]["stop"], Json::array({"\n\n"}));
  EXPECT_EQ(sent["messages"].size(), 2u);
}

TEST(OllamaEngineTest, ReleaseSendsKeepAliveZero) {
  FakeOllama server;
  { auto engine = make_ollama_engine("ollama", options(server)); }
  const auto sent = server.requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["keep_alive"], 0);
  EXPECT_EQ(sent[0]["model"], "qwen2.5:1.5b");
  EXPECT_TRUE(sent[0]["messages"].empty());
}

TEST(OllamaEngineTest, ServerErrorsAreRetriedThenSucceed) {
  FakeOllama server;
  server.queue_status(503);
  server.queue_status(429);
  auto engine = make_ollama_engine("ollama", options(server));
  GenerateResult g = generate_sync(*engine, request());
  EXPECT_TRUE(g.ok()) << g.error;
  EXPECT_GE(server.requests().size(), 3u);
}

TEST(OllamaEngineTest, ClientErrorsAreNotRetried) {
  FakeOllama server;
  server.queue_status(404);
  auto engine = make_ollama_engine("ollama", options(server));
  GenerateResult g = generate_sync(*engine, request());
  EXPECT_EQ(g.finish, Finish::error);
  EXPECT_NE(g.error.find("HTTP 404"), std::string::npos) << g.error;
  EXPECT_EQ(server.requests().size(), 1u);
}

}  // namespace
}  // namespace skein
