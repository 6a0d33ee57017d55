#include "http_handler.hpp"

#include "dashboard_html.hpp"
#include "skein/sha256.hpp"

namespace skein::app {

namespace http = boost::beast::http;

namespace {

// The hash source of the page's inline element `tag` ('sha256-…'), for the policy.
std::string inline_hash(std::string_view page, const std::string& tag) {
  const size_t open = page.find("<" + tag + ">");
  const size_t close = page.find("</" + tag + ">");
  if (open == std::string_view::npos || close == std::string_view::npos) return "'none'";
  const size_t from = open + tag.size() + 2;
  return "'sha256-" + sha256_base64(page.substr(from, close - from)) + "'";
}

// Only the page's own script and style, and requests to its own origin.
const std::string& dashboard_policy() {
  static const std::string policy = [] {
    const std::string_view page = dashboard_html();
    return "default-src 'none'; script-src " + inline_hash(page, "script") + "; style-src " +
           inline_hash(page, "style") +
           "; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  }();
  return policy;
}

HttpResponse dashboard(unsigned version) {
  HttpResponse res{http::status::ok, version};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set("Content-Security-Policy", dashboard_policy());
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.body() = dashboard_html();
  return res;
}

// The JSON of `api`, without the headers every response gets (finish).
HttpResponse json_body(const ApiResponse& api, unsigned version) {
  HttpResponse res{static_cast<http::status>(api.status), version};
  res.set(http::field::content_type, "application/json");
  res.set("X-Content-Type-Options", "nosniff");
  if (api.status == 401) res.set(http::field::www_authenticate, "Bearer");
  res.body() = api.text();
  return res;
}

// The headers every response gets, and its length.
HttpResponse finish(HttpResponse res, bool keep_alive) {
  res.set(http::field::server, "skein");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace

HttpResponse json_response(const ApiResponse& api, unsigned version, bool keep_alive) {
  return finish(json_body(api, version), keep_alive);
}

HttpResponse respond(Host& host, const RequestPolicy& policy, const HttpRequest& req, const Verdict& verdict) {
  if (verdict.refusal) return json_response(*verdict.refusal, req.version(), req.keep_alive());
  HttpResponse res;
  if (is_dashboard_page(req)) {
    res = dashboard(req.version());
    if (req.method() == http::verb::head) res.body().clear();
  } else {
    const std::string_view target = req.target();
    const std::string path(target.substr(0, target.find('?')));
    res = json_body(handle_api(host, {std::string(req.method_string()), path, req.body()}), req.version());
  }
  if (verdict.set_cookie) res.set(http::field::set_cookie, token_cookie(policy.token));
  return finish(std::move(res), req.keep_alive());
}

HttpResponse handle_http(Host& host, const RequestPolicy& policy, const HttpRequest& req) {
  return respond(host, policy, req, check_request(policy, req));
}

}  // namespace skein::app
