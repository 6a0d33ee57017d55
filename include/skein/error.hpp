// Typed errors. Each carries what a user needs to act on it: file:line for configuration,
// the engine name for engine failures, the template text for template errors.
#pragma once
#include <stdexcept>
#include <string>

namespace skein {

// Where something was declared. An empty file means "built through the C++ API".
struct Location {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  std::string str() const;
};

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad chain/graph/type file or a bad API call that builds one. what() starts with "file:line: ".
class ConfigError : public Error {
 public:
  ConfigError(Location where, const std::string& message);
  const Location& where() const { return where_; }

 private:
  Location where_;
};

// A template that does not parse, or names something the history does not have.
class TemplateError : public Error {
 public:
  // `detail`: the message without the template's location, for callers that add their own.
  TemplateError(const std::string& message, std::string detail) : Error(message), detail_(std::move(detail)) {}
  const std::string& detail() const { return detail_; }

 private:
  std::string detail_;
};

// An engine that cannot start or a request that failed inside an engine.
class EngineError : public Error {
 public:
  EngineError(const std::string& engine, const std::string& message);
  const std::string& engine() const { return engine_; }

 private:
  std::string engine_;
};

}  // namespace skein
