// The `openai` backend (see openai_engine.cpp).
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "skein/engine.hpp"

namespace skein {

struct OpenAIOptions {
  std::string endpoint;  // e.g. http://127.0.0.1:8080/v1
  std::string model;
  std::string api_key_env;                                       // name of the variable holding the key; empty: no key
  int parallel = 8;                                              // requests in flight at once
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};  // per attempt
  int retries = 4;  // extra attempts on 429 / 5xx / timeouts / connection errors
  double backoff_base_s = 0.5, backoff_max_s = 20;
};

// Throws EngineError (bad endpoint, key variable not set). Makes no request.
std::unique_ptr<Engine> make_openai_engine(const std::string& name, const OpenAIOptions& options);

}  // namespace skein
