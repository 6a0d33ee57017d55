// The in-process llama.cpp engine: one model, one decode loop, `parallel` sequence slots.
//
// Requests from every caller share the decode loop (continuous batching, after llama.cpp's
// tools/server): each loop step decodes one batch holding the next token of every generating slot
// plus a chunk of any prompt being read. A request with an output type samples under that type's
// grammar. Cancelling frees the slot before the next step.
//
// Prompts are formatted, tokenised and given their sampler on a thread of their own, never on the
// decode thread. With the prefix cache (the default), the KV cache is one pool shared by all slots
// and the engine keeps the prompts it prefilled recently: a request whose prompt begins like one
// of them reuses those cells (llama_memory_seq_cp shares them, nothing is copied) and computes only
// the rest, reported as GenerateResult::cached_prompt_tokens. The cache holds at most
// `prefix_cache_cells` cells of its own (least recently used prompts evicted first). Greedy outputs
// do not change with it; a seeded sampler may feel the float rounding of a different batch shape. A request whose
// prompt shares a long prefix with one being prefilled waits for it rather than prefilling the same tokens again.
#pragma once
#include <memory>
#include <string>

#include "skein/engine.hpp"

namespace skein {

struct LlamaOptions {
  std::string model_path;
  int parallel = 4;            // sequence slots
  int context = 2048;          // tokens per slot (prompt + generation)
  int batch = 512;             // tokens per decode step
  int threads = 0;             // 0: all cores
  bool prefix_cache = true;    // off: every prompt prefilled whole, one KV stream per slot
  int prefix_cache_cells = 0;  // KV cells the cache may hold beyond the slots' (0: `context`)
};

// Loads the model (blocking). Throws EngineError naming the engine if it cannot.
std::unique_ptr<Engine> make_llama_engine(const std::string& name, const LlamaOptions& options);

}  // namespace skein
