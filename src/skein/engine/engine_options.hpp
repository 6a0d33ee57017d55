// Reading a backend's options from EngineConfig::options, with the engine named in errors.
#pragma once
#include <string>

#include "skein/engine_config.hpp"

namespace skein {

// ConfigError (at the engine's declaration) when the option has the wrong kind of value.
int int_option(const EngineConfig& c, const char* key, int fallback);
std::string string_option(const EngineConfig& c, const char* key, const std::string& fallback = "");

// Why `option` does not apply to `backend` (naming the backend's options), or "" when it does. An
// unknown backend (e.g. a test's) takes any option.
std::string option_problem(const std::string& backend, const std::string& option);

}  // namespace skein
