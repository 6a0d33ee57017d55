// What every request to `skein serve` must pass before it reaches the API, the dashboard or the
// event stream, token or not (SPEC §6):
//   - Host names the address the server is bound to, localhost, 127.0.0.1 or [::1], or a name
//     allowed with --allow-host (bound to every address: any IP literal); else 403. Refuses DNS
//     rebinding, where a page of another site reaches the server under its own name.
//   - an Origin other than the server's own (http://<Host>) or one allowed with --allow-origin is
//     refused with 403, except for GET/HEAD of the dashboard page. Refuses cross-site requests,
//     which browsers send without asking when they look like form posts.
//   - with a token: `Authorization: Bearer <token>`, `?token=<token>` (URL-encoded), or for the
//     event stream the `skein_token` cookie the server sets (HttpOnly, SameSite=Strict) after a
//     request that carried the token; else 401. The cookie holds a key derived from the token
//     (HMAC-SHA256), not the token, and opens nothing but the event stream.
//   - a POST carries `Content-Type: application/json`; else 415.
// Pure functions of the request: no I/O, no state.
#pragma once
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api.hpp"

namespace skein::app {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct RequestPolicy {
  std::string address = "127.0.0.1";       // the address bound
  std::string token;                       // empty: none required
  std::vector<std::string> allow_hosts;    // more names a Host header may carry
  std::vector<std::string> allow_origins;  // more origins (scheme://host[:port]) requests may come from
};

struct Verdict {
  std::optional<ApiResponse> refusal;  // 401, 403 or 415 with the reason; none: go on
  bool set_cookie = false;             // it carried the token itself: set the cookie
};

Verdict check_request(const RequestPolicy& policy, const HttpRequest& request);

bool is_dashboard_page(const HttpRequest& request);  // GET or HEAD of / or /index.html
bool is_event_stream(const HttpRequest& request);    // GET /api/events

// The Set-Cookie value that opens the event stream for holders of `token`.
std::string token_cookie(const std::string& token);

}  // namespace skein::app
