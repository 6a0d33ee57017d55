// Shared by the libFuzzer targets: what counts as a finding. A target feeds its input to one
// entry point; a skein::Error (the documented refusal of bad input) is the expected outcome of most
// inputs. Anything else escaping, a crash, a sanitizer report, a hang (-timeout) or a leak is a
// finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "skein/error.hpp"

namespace skein::fuzz {

inline std::string text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Runs `f`, accepting a skein::Error as a refusal.
template <typename F>
void refusing(F&& f) {
  try {
    f();
  } catch (const skein::Error& e) {
    (void)e.what();
  }
}

}  // namespace skein::fuzz
