// The `openai` backend against a real OpenAI-compatible server: llama-server from the pinned tree
// serving the random-weight `local` fixture (outputs are valid, their content meaningless).
#include <gtest/gtest.h>

#include <future>

#include "engine/openai/openai_engine.hpp"
#include "engine/openai/openai_schema.hpp"
#include "fake_http_server.hpp"
#include "llama_server.hpp"
#include "skein/engine.hpp"

namespace skein {
namespace {

TypePtr verdict_type() {
  return TypeSet().make("Verdict", Json::parse(R"({"type":"object","properties":{"label":{"enum":["pos","neg"]},
      "score":{"type":"integer","minimum":0,"maximum":9}},"required":["label","score"]})"));
}

GenerateRequest request(uint32_t seed, int max_tokens = 64) {
  GenerateRequest r;
  r.messages = {{"system", "Judge."}, {"user", "Is this good?"}};
  r.output = verdict_type();
  r.sampling.seed = seed;
  r.sampling.max_tokens = max_tokens;
  return r;
}

class OpenAIEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new test::LlamaServer(4); }
  static void TearDownTestSuite() {
    const pid_t group = server_->pid();
    delete server_;
    EXPECT_FALSE(process_group_alive(group)) << "llama-server's process group survived";
  }
  OpenAIOptions options() const {
    OpenAIOptions o;
    o.endpoint = server_->endpoint();
    o.model = "local";
    o.parallel = 4;
    o.retries = 1;
    o.backoff_base_s = 0.01;
    return o;
  }
  static test::LlamaServer* server_;
};
test::LlamaServer* OpenAIEngineTest::server_ = nullptr;

TEST_F(OpenAIEngineTest, ConstrainedOutputsValidate) {
  auto engine = make_openai_engine("server", options());
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    GenerateResult r = generate_sync(*engine, request(seed));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_TRUE(verdict_type()->validate(Json::parse(r.text)).empty()) << r.text;
    EXPECT_GT(r.prompt_tokens, 0);
    EXPECT_GT(r.generated_tokens, 0);
  }
}

TEST_F(OpenAIEngineTest, ConcurrentRequestsAllComplete) {
  auto engine = make_openai_engine("server", options());
  std::vector<std::future<GenerateResult>> results;
  for (uint32_t i = 0; i < 12; ++i) {
    auto p = std::make_shared<std::promise<GenerateResult>>();
    results.push_back(p->get_future());
    engine->submit(request(i), [p](GenerateResult r) { p->set_value(std::move(r)); });
  }
  for (auto& f : results) {
    GenerateResult r = f.get();
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_TRUE(verdict_type()->validate(Json::parse(r.text)).empty()) << r.text;
  }
}

TEST_F(OpenAIEngineTest, CancelAbortsTheRequestPromptly) {
  auto engine = make_openai_engine("server", options());
  GenerateRequest long_request = request(3, 900);
  long_request.output = nullptr;
  long_request.sampling.ignore_eos = true;
  std::promise<GenerateResult> done;
  auto pending = engine->submit(long_request, [&](GenerateResult r) { done.set_value(std::move(r)); });
  auto future = done.get_future();
  // Cancel once the request is certainly at the server: nothing has come back yet.
  ASSERT_EQ(future.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout) << future.get().error;
  const int64_t at = now_ns();
  pending->cancel();
  GenerateResult r = future.get();
  EXPECT_EQ(r.finish, Finish::cancelled) << r.error;
  EXPECT_LT(r.finished_ns - at, 100'000'000);
  // The server is still healthy and serves the next request.
  EXPECT_TRUE(generate_sync(*engine, request(4)).ok());
}

TEST_F(OpenAIEngineTest, UnreachableServerFailsWithAClearErrorAfterRetries) {
  OpenAIOptions o = options();
  o.endpoint = "http://127.0.0.1:" + std::to_string(test::free_port()) + "/v1";
  auto engine = make_openai_engine("gone", o);
  GenerateResult r = generate_sync(*engine, request(1));
  EXPECT_EQ(r.finish, Finish::error);
  EXPECT_NE(r.error.find("refused"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find(o.endpoint), std::string::npos) << r.error;
}

TEST_F(OpenAIEngineTest, MissingApiKeyVariableIsAnEngineError) {
  OpenAIOptions o = options();
  o.api_key_env = "SKEIN_TEST_SURELY_UNSET_KEY";
  EXPECT_THROW(make_openai_engine("keyed", o), EngineError);
}

TEST(OpenAIServerFault, ServerKilledMidGenerationFailsTheRequestClearly) {
  test::LlamaServer server(1);
  OpenAIOptions o;
  o.endpoint = server.endpoint();
  o.retries = 0;
  auto engine = make_openai_engine("fragile", o);
  GenerateRequest r = request(1, 900);
  r.output = nullptr;
  r.sampling.ignore_eos = true;
  std::promise<GenerateResult> done;
  engine->submit(r, [&](GenerateResult g) { done.set_value(std::move(g)); });
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout) << future.get().error;
  server.process().kill();
  GenerateResult g = future.get();
  EXPECT_EQ(g.finish, Finish::error);
  EXPECT_FALSE(g.error.empty());
}

// The request body for a type with an optional property, against a stand-in server: strict mode,
// the optional property sent as required and nullable, every object closed; the null the server
// may then send is dropped before validation. Tokens the server reused are read from its usage.
TEST(OpenAIRequestBody, AnOptionalPropertyIsSentRequiredAndNullableAndItsNullIsDropped) {
  test::FakeHttpServer server(
      R"({"choices":[{"message":{"role":"assistant","content":"{\"name\":\"ada\",\"nick\":null}"},
      "finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":7,
      "prompt_tokens_details":{"cached_tokens":16}}})");
  OpenAIOptions o;
  o.endpoint = server.endpoint() + "/v1";
  o.model = "gpt-test";
  o.retries = 0;
  auto engine = make_openai_engine("openai", o);
  GenerateRequest r;
  r.messages = {{"user", "Who?"}};
  r.output = TypeSet().make("Person", Json::parse(R"({"type":"object","properties":{"name":{"type":"string"},
      "nick":{"type":"string"}},"required":["name"]})"));
  r.sampling.max_tokens = 30;
  const GenerateResult g = generate_sync(*engine, r);
  ASSERT_TRUE(g.ok()) << g.error;
  EXPECT_EQ(g.text, R"({"name":"ada"})");
  EXPECT_EQ(g.cached_prompt_tokens, 16);
  EXPECT_EQ(server.requests().at(0)["response_format"], Json::parse(R"({"type":"json_schema","json_schema":{
      "name":"Person","strict":true,"schema":{"type":"object","properties":{"name":{"type":"string"},
      "nick":{"anyOf":[{"type":"string"},{"type":"null"}]}},"required":["name","nick"],
      "additionalProperties":false}}})"));
}

TEST(OpenAIRequestBody, ATypeStrictModeCannotHoldIsSentNonStrictAsWrittenWithTheReason) {
  const Json schema = Json::parse(R"({"type":"object","properties":{"code":{"type":"string","minLength":3}},
      "required":["code"]})");
  const OpenAISchema form = openai_schema(schema);
  EXPECT_FALSE(form.strict);
  EXPECT_EQ(form.schema, schema);
  EXPECT_EQ(openai_mode(form), "non-strict: `minLength` (at #/properties/code) is not a keyword strict mode accepts");
  const Json nullable = Json::parse(R"({"type":"object","properties":{"n":{"type":["integer","null"]}}})");
  EXPECT_EQ(openai_mode(openai_schema(nullable)),
            "non-strict: optional property 'n' at # may be null already: a null could not be told from an absent "
            "value");
  EXPECT_EQ(openai_mode(openai_schema(Json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}},
      "required":["n"]})"))),
            "strict");
  // A root without `type` gets it; a nullable object without properties is not sent strict.
  EXPECT_EQ(openai_schema(Json::parse(R"({"properties":{"n":{"type":"integer"}},"required":["n"]})")).schema["type"],
            "object");
  EXPECT_FALSE(openai_schema(Json::parse(R"({"type":"object","properties":{"o":{"type":["object","null"]}},
      "required":["o"]})"))
                   .strict);
}

}  // namespace
}  // namespace skein
