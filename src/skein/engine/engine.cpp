#include "skein/engine.hpp"

#include <chrono>
#include <future>

namespace skein {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* to_string(Finish f) {
  switch (f) {
    case Finish::stop:
      return "stop";
    case Finish::length:
      return "length";
    case Finish::cancelled:
      return "cancelled";
    case Finish::error:
      return "error";
  }
  return "?";
}

GenerateResult generate_sync(Engine& engine, GenerateRequest request) {
  auto promise = std::make_shared<std::promise<GenerateResult>>();
  auto future = promise->get_future();
  engine.submit(std::move(request), [promise](GenerateResult r) { promise->set_value(std::move(r)); });
  return future.get();
}

}  // namespace skein
