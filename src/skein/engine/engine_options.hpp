// Reading a backend's options from EngineConfig::options, with the engine named in errors.
#pragma once
#include <string>

#include "skein/engine_config.hpp"

namespace skein {

// ConfigError (at the engine's declaration) when the option has the wrong kind of value.
int int_option(const EngineConfig& c, const char* key, int fallback);
std::string string_option(const EngineConfig& c, const char* key, const std::string& fallback = "");

}  // namespace skein
