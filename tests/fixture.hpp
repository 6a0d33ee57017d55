// Shared test helpers: the fixture models that scripts/setup.sh generates (random weights).
#pragma once
#include <filesystem>
#include <string>

#include "skein/llama_engine.hpp"

namespace skein::test {

inline std::string model_path(const std::string& name) {
  return std::string(SKEIN_TEST_MODEL_DIR) + "/" + name + ".gguf";
}

inline LlamaOptions local_options(int parallel = 4) {
  LlamaOptions o;
  o.model_path = model_path("local");
  o.parallel = parallel;
  o.context = 1024;
  return o;
}

}  // namespace skein::test
