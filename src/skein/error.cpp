#include "skein/error.hpp"

namespace skein {

std::string Location::str() const {
  if (file.empty()) return line > 0 ? "line " + std::to_string(line) : "<api>";
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

ConfigError::ConfigError(Location where, const std::string& message)
    : Error(where.str() + ": " + message), where_(std::move(where)) {}

EngineError::EngineError(const std::string& engine, const std::string& message)
    : Error("engine '" + engine + "': " + message), engine_(engine) {}

}  // namespace skein
