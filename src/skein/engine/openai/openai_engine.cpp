// The `openai` backend: any OpenAI-compatible chat endpoint (vLLM, llama-server, OpenAI, Ollama's
// /v1). Output types go as `response_format: json_schema`; whatever the server claims, the caller
// validates the text. Retries 429 / 5xx / timeouts / refused connections with exponential back-off
// and jitter, honouring Retry-After. The API key is read from an environment variable and never
// logged.
#include "openai_engine.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>

#include "engine/async_engine.hpp"
#include "engine/http/json_call.hpp"
#include "openai_schema.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;

std::string schema_name(const std::string& type_name) {
  std::string out;
  for (char c : type_name) out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ? c : '_';
  return out.empty() ? "output" : out;
}

// `form`: the output type as the server gets it (when the request has one).
Json chat_body(const OpenAIOptions& o, const GenerateRequest& req, const std::optional<OpenAISchema>& form) {
  Json messages = Json::array();
  for (const auto& m : req.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
  const Sampling& s = req.sampling;
  Json body{{"model", o.model}, {"messages", messages}, {"max_tokens", s.max_tokens}};
  body["temperature"] = std::max(0.0f, s.temperature);
  if (s.top_p < 1.0f) body["top_p"] = s.top_p;
  if (s.top_k > 0) body["top_k"] = s.top_k;  // vLLM, llama-server and Ollama accept it
  if (!s.stop.empty()) body["stop"] = s.stop;
  if (s.seed) body["seed"] = *s.seed;
  if (s.ignore_eos && !req.output) body["ignore_eos"] = true;  // llama-server and vLLM accept it
  if (req.output && form)
    body["response_format"] = {
        {"type", "json_schema"},
        {"json_schema",
         {{"name", schema_name(req.output->name())}, {"strict", form->strict}, {"schema", form->schema}}}};
  return body;
}

GenerateResult parse_reply(const std::string& body) {
  GenerateResult r;
  const Json j = Json::parse(body);
  const Json& choice = j.at("choices").at(0);
  const Json& content = choice.at("message").at("content");
  r.text = content.is_string() ? content.get<std::string>() : "";
  r.finish = choice.value("finish_reason", "stop") == "length" ? Finish::length : Finish::stop;
  if (j.contains("usage") && j["usage"].is_object()) {
    const Json& usage = j["usage"];
    r.prompt_tokens = usage.value("prompt_tokens", 0);
    r.generated_tokens = usage.value("completion_tokens", 0);
    // Prompt tokens the server reused: OpenAI and vLLM say it in the usage, llama-server in its timings.
    if (usage.contains("prompt_tokens_details") && usage["prompt_tokens_details"].is_object())
      r.cached_prompt_tokens = usage["prompt_tokens_details"].value("cached_tokens", 0);
    else if (j.contains("timings") && j["timings"].is_object())
      r.cached_prompt_tokens = j["timings"].value("cache_n", 0);
  }
  return r;
}

// A reply to a type sent strict and converted, without the nulls the conversion allowed: only when
// the reply is invalid with them and valid without (a null the type takes stays; text that does
// not parse is left for validation to refuse).
std::string without_added_nulls(const std::string& text, const Type& type, const OpenAISchema& form) {
  if (!form.converted) return text;
  try {
    const Json value = Json::parse(text);
    if (type.why_invalid(value).empty()) return text;
    Json dropped = drop_added_nulls(value, type.schema());
    return type.why_invalid(dropped).empty() ? dropped.dump() : text;
  } catch (const Json::exception&) {
    return text;
  }
}

class OpenAIEngine final : public AsyncEngine {
 public:
  OpenAIEngine(std::string name, OpenAIOptions o)
      : AsyncEngine(name, o.parallel), o_(std::move(o)), url_(http::parse_url(o_.endpoint)) {
    if (!o_.api_key_env.empty()) {
      const char* key = std::getenv(o_.api_key_env.c_str());
      if (!key || !*key) throw EngineError(this->name(), "environment variable " + o_.api_key_env + " is not set");
      key_ = key;
    }
  }
  ~OpenAIEngine() override { shutdown(); }

 protected:
  asio::awaitable<GenerateResult> generate(const GenerateRequest& req) override {
    http::Request http;
    http.target = url_.path + "/chat/completions";
    http.headers["content-type"] = "application/json";
    if (!key_.empty()) http.headers["authorization"] = "Bearer " + key_;
    std::optional<OpenAISchema> form;  // built once: for the body and for the reply
    if (req.output) form = openai_schema(req.output->schema());
    http.body = chat_body(o_, req, form).dump(-1, ' ', false, Json::error_handler_t::replace);
    http.timeout = o_.timeout;
    GenerateResult r =
        co_await http::generate_over_http(url_, http, {o_.retries, o_.backoff_base_s, o_.backoff_max_s}, parse_reply);
    if (r.ok() && form) r.text = without_added_nulls(r.text, *req.output, *form);
    co_return r;
  }

 private:
  OpenAIOptions o_;
  http::Url url_;
  std::string key_;
};

}  // namespace

std::unique_ptr<Engine> make_openai_engine(const std::string& name, const OpenAIOptions& options) {
  try {
    return std::make_unique<OpenAIEngine>(name, options);
  } catch (const std::invalid_argument& e) {
    throw EngineError(name, e.what());
  }
}

}  // namespace skein
