// The HTTP JSON API of `skein serve` (SPEC §6), apart from the transport: a request's method,
// target and body in, a status and a JSON body out. The SSE stream (/api/events) and the dashboard
// are the server's.
//
//   POST /api/runs            {"file": …, "input": …}      -> 201 {"id": …}
//   GET  /api/runs                                         -> {"runs": [summary…], "pending_gates": n, "crashed":
//   [id…]} GET  /api/runs/{id}                                    -> the run: state, trace, timings, deps, gates GET
//   /api/runs/{id}/events                             -> {"events": […]} POST /api/runs/{id}/cancel -> {"cancelled":
//   bool} POST /api/runs/{id}/resume                             -> 201 {"id": …} (a chain run; see Host::resume) GET
//   /api/gates                                        -> {"gates": […]} POST /api/gates/{id}      {"value": …} ->
//   {"answered": id}; 400 with the reason GET  /api/engines                                      -> {"engines": […]}
//   GET  /api/files                                        -> {"files": [{path, name, kind}…]}
// Errors: {"error": reason} with 400 (bad request), 404 (no such run, gate or route), 405.
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
};

ApiResponse handle_api(Host& host, const ApiRequest& request);

// A run for the runs table: everything but its trace, timings and input.
Json run_summary_json(const RunSnapshot& run);

}  // namespace skein::app
