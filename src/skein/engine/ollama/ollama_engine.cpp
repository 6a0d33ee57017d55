#include "ollama_engine.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "engine/async_engine.hpp"
#include "engine/http/json_call.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;

Json keep_alive_value(double seconds) {
  if (seconds < 0) return -1;
  return std::to_string(int64_t(seconds)) + "s";
}

GenerateResult parse_reply(const std::string& body) {
  const Json j = Json::parse(body);
  GenerateResult r;
  r.text = j.at("message").at("content").get<std::string>();
  r.finish = j.value("done_reason", "stop") == "length" ? Finish::length : Finish::stop;
  r.prompt_tokens = j.value("prompt_eval_count", 0);
  r.generated_tokens = j.value("eval_count", 0);
  return r;
}

class OllamaEngine final : public AsyncEngine {
 public:
  OllamaEngine(std::string name, OllamaOptions o)
      : AsyncEngine(name, o.parallel), o_(std::move(o)), url_(http::parse_url(o_.endpoint)) {}

  // Release: ask Ollama to unload the model now (keep_alive 0), then stop.
  ~OllamaEngine() override {
    const http::Request req = chat_request(Json{{"model", o_.model}, {"messages", Json::array()}, {"keep_alive", 0}});
    const http::RetryPolicy once{0, 0, 0};  // outlives the coroutine: it is awaited below
    auto unload = asio::co_spawn(io(), http::send_with_retries(url_, req, once), asio::use_future);
    try {
      unload.get();
    } catch (const std::exception&) {  // Ollama gone already: nothing to unload
    }
    shutdown();
  }

 protected:
  asio::awaitable<GenerateResult> generate(const GenerateRequest& req) override {
    http::Request http = chat_request(ollama_chat_body(o_, req));
    co_return co_await http::generate_over_http(url_, http, o_.retry, parse_reply);
  }

 private:
  http::Request chat_request(const Json& body) const {
    http::Request req;
    req.target = url_.path + "/api/chat";
    req.headers["content-type"] = "application/json";
    req.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
    req.timeout = o_.timeout;
    return req;
  }

  OllamaOptions o_;
  http::Url url_;
};

}  // namespace

Json ollama_chat_body(const OllamaOptions& o, const GenerateRequest& req) {
  Json messages = Json::array();
  for (const auto& m : req.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
  const Sampling& s = req.sampling;
  Json options{{"temperature", std::max(0.0f, s.temperature)}, {"num_predict", s.max_tokens}};
  if (s.top_p < 1.0f) options["top_p"] = s.top_p;
  if (s.top_k > 0) options["top_k"] = s.top_k;
  if (!s.stop.empty()) options["stop"] = s.stop;
  if (s.seed) options["seed"] = *s.seed;
  Json body{{"model", o.model},
            {"messages", messages},
            {"stream", false},
            {"options", options},
            {"keep_alive", keep_alive_value(o.keep_alive)}};
  if (req.output) body["format"] = req.output->schema();
  return body;
}

std::unique_ptr<Engine> make_ollama_engine(const std::string& name, const OllamaOptions& options) {
  try {
    return std::make_unique<OllamaEngine>(name, options);
  } catch (const std::invalid_argument& e) {
    throw EngineError(name, e.what());
  }
}

}  // namespace skein
