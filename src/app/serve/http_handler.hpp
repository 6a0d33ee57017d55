// One HTTP request of `skein serve`, apart from the socket: its checks (request_checks.hpp), then
// the dashboard page (with a Content-Security-Policy that allows only its own origin) or the JSON
// API (api.hpp). The event stream is the server's (server.cpp), which checks each request once,
// right after its header.
//
// Thread-safe as Host is; blocks only on the host's and registry's locks. Never throws: every
// failure is a response.
#pragma once
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "request_checks.hpp"

namespace skein::app {

using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

HttpResponse handle_http(Host& host, const RequestPolicy& policy, const HttpRequest& request);
// The same for a request already checked: `verdict` is check_request's.
HttpResponse respond(Host& host, const RequestPolicy& policy, const HttpRequest& request, const Verdict& verdict);

// A JSON response for `api` to a request of `version` (also for refusals made before routing).
HttpResponse json_response(const ApiResponse& api, unsigned version, bool keep_alive);

}  // namespace skein::app
