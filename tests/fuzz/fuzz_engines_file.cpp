// An engines file's text, with its `broker:` limits.
#include "fuzz.hpp"
#include "skein/engine_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  skein::fuzz::refusing([&] {
    skein::BrokerLimits limits;
    (void)skein::parse_engines_file(skein::fuzz::text(data, size), "fuzz/engines.yaml", &limits);
  });
  return 0;
}
