// Shared test helpers: the fixture models that scripts/setup.sh generates (random weights).
#pragma once
#include <filesystem>
#include <string>

#include "skein/llama_engine.hpp"

namespace skein::test {

inline std::string model_path(const std::string& name) {
  // (a path, not string concatenation: g++ 12 warns falsely on inlined operator+ chains)
  return (std::filesystem::path(SKEIN_TEST_MODEL_DIR) / (name + ".gguf")).string();
}

inline LlamaOptions local_options(int parallel = 4) {
  LlamaOptions o;
  o.model_path = model_path("local");
  o.parallel = parallel;
  o.context = 1024;
  return o;
}

}  // namespace skein::test
