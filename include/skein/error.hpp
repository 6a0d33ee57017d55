// Typed errors. Each carries what a user needs to act on it: file:line for configuration,
// the engine name for engine failures, the template text for template errors, and a code after
// the canonical status codes (Abseil's), which a front end maps to its own statuses in one place
// (the HTTP API: serve/api.cpp).
//
// Throw the class that says what went wrong where it goes wrong; a plain Error is "unknown".
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

#include "skein/enum_names.hpp"

namespace skein {

enum class ErrorCode {
  unknown,              // a failure of Skein or of its environment (disk, engine process, …)
  cancelled,            // the caller cancelled it
  invalid_argument,     // a malformed call, request or file, whatever the state
  invalid_value,        // a well-formed value that does not fit its type (e.g. a gate answer)
  deadline_exceeded,    // it took longer than allowed
  not_found,            // no such run, gate, file, engine
  already_exists,       // a name declared twice differently
  failed_precondition,  // not in the state it needs: a gate already answered, a DONE run resumed
  permission_denied,    // refused whoever asks (a foreign origin or host)
  unauthenticated,      // no valid token
  resource_exhausted,   // over a limit (queue, body size)
  unavailable,          // an engine or a database that cannot start, be reached or answer now
};
const char* to_string(ErrorCode code);  // "NOT_FOUND", … (in capitals, as Abseil's)
template <>
struct EnumCount<ErrorCode> {
  static constexpr int value = int(ErrorCode::unavailable) + 1;
};

// Where something was declared. An empty file means "built through the C++ API".
struct Location {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  std::string str() const;
};

// What a check found that does not stop a run (a graph node that cannot reach an end, a chain Step
// whose prompt reads nothing from the history).
struct ConfigWarning {
  Location where;
  std::string message;
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorCode code = ErrorCode::unknown)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// One class per code, to throw and to catch.
template <ErrorCode C>
class CodedError : public Error {
 public:
  explicit CodedError(const std::string& message) : Error(message, C) {}
};
using CancelledError = CodedError<ErrorCode::cancelled>;
using InvalidArgumentError = CodedError<ErrorCode::invalid_argument>;
using InvalidValueError = CodedError<ErrorCode::invalid_value>;
using DeadlineExceededError = CodedError<ErrorCode::deadline_exceeded>;
using NotFoundError = CodedError<ErrorCode::not_found>;
using AlreadyExistsError = CodedError<ErrorCode::already_exists>;
using FailedPreconditionError = CodedError<ErrorCode::failed_precondition>;
using PermissionDeniedError = CodedError<ErrorCode::permission_denied>;
using UnauthenticatedError = CodedError<ErrorCode::unauthenticated>;
using ResourceExhaustedError = CodedError<ErrorCode::resource_exhausted>;

// A bad chain/graph/type file or a bad API call that builds one (invalid_argument). what() starts
// with "file:line: ".
class ConfigError : public Error {
 public:
  ConfigError(Location where, const std::string& message, ErrorCode code = ErrorCode::invalid_argument);
  const Location& where() const { return where_; }
  const std::string& message() const { return message_; }  // what() without the location

 private:
  Location where_;
  std::string message_;
};

// A template that does not parse, or names something the history does not have (invalid_argument).
class TemplateError : public Error {
 public:
  // `detail`: the message without the template's location, for callers that add their own.
  TemplateError(const std::string& message, std::string detail)
      : Error(message, ErrorCode::invalid_argument), detail_(std::move(detail)) {}
  const std::string& detail() const { return detail_; }

 private:
  std::string detail_;
};

// An engine that cannot start or a request that failed inside an engine (unavailable).
class EngineError : public Error {
 public:
  EngineError(const std::string& engine, const std::string& message);
  const std::string& engine() const { return engine_; }

 private:
  std::string engine_;
};

// The value of E named `name` (see enum_names.hpp) in data Skein wrote (a store's rows, a run's
// JSON); an Error (unknown) naming `what` for a name no value has: another version wrote it.
template <typename E>
E parse_enum(std::string_view name, const char* what) {
  if (auto e = enum_from<E>(name)) return *e;
  throw Error(std::string("unknown ") + what + " '" + std::string(name) + "' (written by another version of Skein?)");
}

}  // namespace skein
