// Records are JSON objects whose key order is kept.
#pragma once
#include <nlohmann/json.hpp>

namespace skein {
using Json = nlohmann::ordered_json;
}  // namespace skein
