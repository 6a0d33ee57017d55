#include "skein/error.hpp"

#include <iterator>

namespace skein {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::unknown:
      return "UNKNOWN";
    case ErrorCode::cancelled:
      return "CANCELLED";
    case ErrorCode::invalid_argument:
      return "INVALID_ARGUMENT";
    case ErrorCode::invalid_value:
      return "INVALID_VALUE";
    case ErrorCode::deadline_exceeded:
      return "DEADLINE_EXCEEDED";
    case ErrorCode::not_found:
      return "NOT_FOUND";
    case ErrorCode::already_exists:
      return "ALREADY_EXISTS";
    case ErrorCode::failed_precondition:
      return "FAILED_PRECONDITION";
    case ErrorCode::permission_denied:
      return "PERMISSION_DENIED";
    case ErrorCode::unauthenticated:
      return "UNAUTHENTICATED";
    case ErrorCode::resource_exhausted:
      return "RESOURCE_EXHAUSTED";
    case ErrorCode::unavailable:
      return "UNAVAILABLE";
  }
  return "?";
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
