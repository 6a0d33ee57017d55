#include "ollama_engine.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "engine/async_engine.hpp"

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
    auto unload = asio::co_spawn(
        io(), send_json(Json{{"model", o_.model}, {"messages", Json::array()}, {"keep_alive", 0}}), asio::use_future);
    try {
      unload.get();
    } catch (const std::exception&) {  // Ollama gone already: nothing to unload
    }
    shutdown();
  }

 protected:
  asio::awaitable<GenerateResult> generate(const GenerateRequest& req) override {
    const int64_t started = now_ns();
    GenerateResult r;
    try {
      const http::Response res = co_await send_json(ollama_chat_body(o_, req));
      if (res.status != 200) {
        r.error = "HTTP " + std::to_string(res.status) + " from " + o_.endpoint + ": " + res.body.substr(0, 300);
        co_return r;
      }
      r = parse_reply(res.body);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) throw;
      r.error = e.code().message() + " (" + o_.endpoint + ")";
    } catch (const Json::exception& e) {
      r.error = std::string("unreadable reply from ") + o_.endpoint + ": " + e.what();
    }
    r.started_ns = started;
    co_return r;
  }

 private:
  asio::awaitable<http::Response> send_json(Json body) {
    http::Request req;
    req.target = url_.path + "/api/chat";
    req.headers["content-type"] = "application/json";
    req.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
    req.timeout = o_.timeout;
    co_return co_await http::send_with_retries(url_, req, o_.retry);
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
