// A JSON Schema loaded as a type (checked, made self-contained), turned into a grammar, and a
// value validated against it.
#include "fuzz.hpp"
#include "skein/schema.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const skein::Json schema = skein::Json::parse(data, data + size, nullptr, false);
  if (schema.is_discarded()) return 0;
  skein::fuzz::refusing([&] {
    skein::TypeSet types;
    types.add("T", schema, {"fuzz.json", 1});
    const skein::TypePtr t = types.get("T");
    (void)t->grammar();
    (void)t->validate(schema);
    (void)t->validate(skein::Json::object());
  });
  return 0;
}
