// The `ollama` backend: Ollama's native /api/chat with `format` = the output type's schema and the
// engine's keep_alive passed through; releasing the engine sends keep_alive 0 so Ollama unloads
// the model at once.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "engine/http/retry.hpp"
#include "skein/engine.hpp"

namespace skein {

struct OllamaOptions {
  std::string endpoint = "http://127.0.0.1:11434";
  std::string model;
  double keep_alive = 180;  // seconds; < 0: keep loaded (-1 for Ollama)
  int parallel = 4;
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  http::RetryPolicy retry;
};

// The /api/chat body of one request.
Json ollama_chat_body(const OllamaOptions& options, const GenerateRequest& request);

std::unique_ptr<Engine> make_ollama_engine(const std::string& name, const OllamaOptions& options);

}  // namespace skein
