// A loaded llama.cpp model and what every slot needs from it.
#pragma once
#include <llama.h>

#include <string>
#include <vector>

#include "skein/engine.hpp"

namespace skein::llama {

struct Model {
  llama_model* model = nullptr;
  const llama_vocab* vocab = nullptr;
  std::string chat_template;     // the model's, or "chatml"
  std::vector<llama_token> eog;  // end-of-generation tokens (for ignore_eos)

  // The chat messages rendered with the model's chat template, ending with the assistant prefix.
  std::string format(const std::vector<ChatMessage>& messages) const;
};

// Loads `path`; throws EngineError naming `engine` on failure.
Model load_model(const std::string& engine, const std::string& path);
void free_model(Model& m);

// While set on the calling thread, llama.cpp's error lines logged on it are dropped: a decode that
// Skein abandons (its requests cancelled) logs three, and nothing failed.
void quiet_llama_errors(bool quiet);

}  // namespace skein::llama
