// The HTTP JSON API of `skein serve` (SPEC §6), apart from the transport: a request's method,
// path and body in, a status and a JSON body out. The SSE stream (/api/events), the dashboard and
// the checks of every request (token, Host, Origin, content type) are the server's
// (request_checks.hpp).
//
//   POST /api/runs              {"file": …, "input": …}  -> 201 {"id": …}
//   GET  /api/runs                                       -> {"runs": [summary…], "pending_gates": n, "crashed": [id…]}
//   GET  /api/runs/{id}                                  -> the run: state, trace, timings, deps, gates
//   GET  /api/runs/{id}/events                           -> {"events": […]}
//   POST /api/runs/{id}/cancel                           -> {"cancelled": true}; 409 for a finished run
//   POST /api/runs/{id}/resume                           -> 201 {"id": …} (a graph run keeps its id; Host::resume)
//   POST /api/runs/{id}/fork    {"at": k, "fields": {…}} -> 201 {"id": …} (a new graph run; Host::fork)
//   GET  /api/gates                                      -> {"gates": […]}
//   POST /api/gates/{id}        {"value": …}             -> {"answered": id}
//   GET  /api/engines                                    -> {"engines": […]}
//   GET  /api/files                                      -> {"files": [{path, name, kind}…]}
//
// Errors are {"error": reason, "code": CODE}, always valid UTF-8, with the status of the error's
// code (skein/error.hpp) from one table: 400 INVALID_ARGUMENT (a malformed request), 404
// NOT_FOUND (no such run, gate, file or route), 405 (wrong method), 409 FAILED_PRECONDITION (a gate
// already answered, a run that cannot be resumed or cancelled), 422 INVALID_VALUE (a gate answer
// its type refuses, with the reason), 500 UNKNOWN (a failure of Skein), 503 UNAVAILABLE (an engine).
//
// Thread-safe as Host is; blocks only on the host's and registry's locks.
#pragma once
#include <string>

#include "../host/host.hpp"

namespace skein::app {

struct ApiRequest {
  std::string method;  // GET, POST, …
  std::string path;    // without the query
  std::string body;
};

struct ApiResponse {
  int status = 200;
  Json body = Json::object();
  std::string text() const;  // the body as JSON text, invalid UTF-8 replaced
};

ApiResponse handle_api(Host& host, const ApiRequest& request);

// {"error": message, "code": code} with `status`.
ApiResponse error_response(int status, const std::string& code, const std::string& message);

// A run for the runs table: everything but its trace, timings and input.
Json run_summary_json(const RunSnapshot& run);

}  // namespace skein::app
