// The in-process llama.cpp engine: one model, one decode loop, `parallel` sequence slots.
//
// Requests from every caller share the decode loop (continuous batching, after llama.cpp's
// tools/server): each loop step decodes one batch holding the next token of every generating slot
// plus a chunk of any prompt being read. A request with an output type samples under that type's
// grammar. Cancelling frees the slot before the next step.
#pragma once
#include <memory>
#include <string>

#include "skein/engine.hpp"

namespace skein {

struct LlamaOptions {
  std::string model_path;
  int parallel = 4;    // sequence slots
  int context = 2048;  // tokens per slot (prompt + generation)
  int batch = 512;     // tokens per decode step
  int threads = 0;     // 0: all cores
};

// Loads the model (blocking). Throws EngineError naming the engine if it cannot.
std::unique_ptr<Engine> make_llama_engine(const std::string& name, const LlamaOptions& options);

}  // namespace skein
