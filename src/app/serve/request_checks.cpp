#include "request_checks.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/field.hpp>
#include <charconv>

#include "skein/sha256.hpp"

namespace skein::app {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kCookie = "skein_token";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// %XX and '+' decoded; a malformed escape is kept as it is.
std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (unsigned char c = 0;
               s[i] == '%' && i + 2 < s.size() && std::from_chars(&s[i + 1], &s[i + 3], c, 16).ptr == &s[i + 3]) {
      out += char(c);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// What the cookie holds: HMAC-SHA256(token, "skein events"), hex. Not the token: cookies are not
// kept apart by port, so another server on the same host name may see it, and it opens nothing but
// the event stream.
std::string stream_key(const std::string& token) { return hmac_sha256_hex(token, "skein events"); }

bool same(std::string_view a, std::string_view b) {  // without an early exit on the first difference
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// "Host: [::1]:8686" -> "[::1]"; "localhost:8686" -> "localhost".
std::string host_name(std::string_view host) {
  if (host.starts_with('[')) return lower(host.substr(0, host.find(']') + 1));
  return lower(host.substr(0, host.find(':')));
}

std::optional<boost::asio::ip::address> ip_literal(const std::string& name) {
  boost::system::error_code ec;
  const std::string bare = name.starts_with('[') && name.ends_with(']') ? name.substr(1, name.size() - 2) : name;
  auto a = boost::asio::ip::make_address(bare, ec);
  if (ec) return std::nullopt;
  return a;
}

bool host_allowed(const RequestPolicy& p, std::string_view header) {
  if (header.empty()) return false;
  const std::string name = host_name(header);
  if (name == "localhost" || name == "127.0.0.1" || name == "[::1]") return true;
  for (const auto& h : p.allow_hosts)
    if (lower(h) == name) return true;
  const auto literal = ip_literal(name);
  if (!literal) return false;
  boost::system::error_code ec;
  const auto bound = boost::asio::ip::make_address(p.address, ec);
  return !ec && (bound.is_unspecified() || bound == *literal);
}

bool origin_allowed(const RequestPolicy& p, std::string_view origin, std::string_view host) {
  std::string o = lower(origin);
  while (o.ends_with('/')) o.pop_back();
  if (o == "http://" + lower(host)) return true;
  for (std::string a : p.allow_origins) {
    a = lower(a);
    while (a.ends_with('/')) a.pop_back();
    if (a == o) return true;
  }
  return false;
}

std::string cookie_value(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    const size_t semi = cookies.find(';');
    std::string_view pair = cookies.substr(0, semi);
    while (pair.starts_with(' ')) pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=')
      return url_decode(pair.substr(name.size() + 1));
    if (semi == std::string_view::npos) break;
    cookies.remove_prefix(semi + 1);
  }
  return "";
}

// The value of `key` in the target's query string, URL-decoded ("" if absent).
std::string query_value(std::string_view target, std::string_view key) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.size() > key.size() && pair.starts_with(key) && pair[key.size()] == '=')
      return url_decode(pair.substr(key.size() + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

bool is_json(std::string_view content_type) {
  const std::string media = lower(content_type.substr(0, content_type.find(';')));
  std::string_view m = media;
  while (m.ends_with(' ')) m.remove_suffix(1);
  return m == "application/json";
}

}  // namespace

bool is_dashboard_page(const HttpRequest& req) {
  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  return (req.method() == http::verb::get || req.method() == http::verb::head) &&
         (path == "/" || path == "/index.html");
}

bool is_event_stream(const HttpRequest& req) {
  const std::string_view target = req.target();
  return req.method() == http::verb::get && target.substr(0, target.find('?')) == "/api/events";
}

std::string token_cookie(const std::string& token) {
  return std::string(kCookie) + "=" + stream_key(token) + "; Path=/api/events; HttpOnly; SameSite=Strict";
}

Verdict check_request(const RequestPolicy& p, const HttpRequest& req) {
  auto refuse = [](int status, ErrorCode code, const std::string& why) {
    return Verdict{error_response(status, to_string(code), why)};
  };
  const std::string_view host = req[http::field::host];
  if (!host_allowed(p, host))
    return refuse(403, ErrorCode::permission_denied,
                  "Host '" + std::string(host) + "' is not this server's (allow it with --allow-host)");
  const std::string_view origin = req[http::field::origin];
  if (!origin.empty() && !is_dashboard_page(req) && !origin_allowed(p, origin, host))
    return refuse(403, ErrorCode::permission_denied,
                  "requests from origin '" + std::string(origin) + "' are refused (allow it with --allow-origin)");
  Verdict ok;
  if (!p.token.empty()) {
    const std::string_view auth = req[http::field::authorization];
    const bool carried = (auth.starts_with("Bearer ") && same(auth.substr(7), p.token)) ||
                         same(query_value(req.target(), "token"), p.token);
    const bool cookie =
        is_event_stream(req) && same(cookie_value(req[http::field::cookie], kCookie), stream_key(p.token));
    if (!carried && !cookie)
      return refuse(401, ErrorCode::unauthenticated,
                    "a token is required: 'Authorization: Bearer <token>' (or ?token=<token>)");
    ok.set_cookie = carried;
  }
  if (req.method() == http::verb::post && !is_json(req[http::field::content_type]))
    return refuse(415, ErrorCode::invalid_argument,
                  "a POST body must be 'Content-Type: application/json', not '" +
                      std::string(req[http::field::content_type]) + "'");
  return ok;
}

}  // namespace skein::app
