// A chain file's text, loaded and checked.
#include "fuzz.hpp"
#include "skein/chain.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  skein::fuzz::refusing([&] { (void)skein::parse_chain(skein::fuzz::text(data, size), "fuzz/chain.yaml"); });
  return 0;
}
