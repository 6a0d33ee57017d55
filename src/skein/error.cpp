#include "skein/error.hpp"

#include <iterator>

namespace skein {

const char* to_string(ErrorCode code) {
  static constexpr const char* kNames[] = {
      "UNKNOWN",           "CANCELLED",       "INVALID_ARGUMENT",   "INVALID_VALUE",
      "DEADLINE_EXCEEDED", "NOT_FOUND",       "ALREADY_EXISTS",     "FAILED_PRECONDITION",
      "PERMISSION_DENIED", "UNAUTHENTICATED", "RESOURCE_EXHAUSTED", "UNAVAILABLE"};  // in the order of ErrorCode
  static_assert(std::size(kNames) == size_t(ErrorCode::unavailable) + 1);
  return size_t(code) < std::size(kNames) ? kNames[size_t(code)] : "?";
}

std::string Location::str() const {
  if (file.empty()) return line > 0 ? "line " + std::to_string(line) : "<api>";
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

ConfigError::ConfigError(Location where, const std::string& message, ErrorCode code)
    : Error(where.str() + ": " + message, code), where_(std::move(where)), message_(message) {}

EngineError::EngineError(const std::string& engine, const std::string& message)
    : Error("engine '" + engine + "': " + message, ErrorCode::unavailable), engine_(engine) {}

}  // namespace skein
