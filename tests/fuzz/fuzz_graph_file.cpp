// A graph file's text, loaded and checked.
#include "fuzz.hpp"
#include "skein/graph.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  skein::fuzz::refusing([&] {
    std::vector<skein::GraphWarning> warnings;
    (void)skein::parse_graph(skein::fuzz::text(data, size), "fuzz/graph.yaml", &warnings);
  });
  return 0;
}
