#include "http_handler.hpp"

#include <openssl/evp.h>

#include "dashboard_html.hpp"

namespace skein::app {

namespace http = boost::beast::http;

namespace {

std::string sha256_base64(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), digest, &n, EVP_sha256(), nullptr);
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  out.resize(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), digest, int(n)));
  return out;
}

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

HttpResponse dashboard(const HttpRequest& req) {
  HttpResponse res{http::status::ok, req.version()};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set("Content-Security-Policy", dashboard_policy());
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.body() = dashboard_html();
  return res;
}

}  // namespace

HttpResponse json_response(const ApiResponse& api, unsigned version, bool keep_alive) {
  HttpResponse res{static_cast<http::status>(api.status), version};
  res.set(http::field::server, "skein");
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::content_type, "application/json");
  res.set("X-Content-Type-Options", "nosniff");
  if (api.status == 401) res.set(http::field::www_authenticate, "Bearer");
  res.keep_alive(keep_alive);
  res.body() = api.text();
  res.prepare_payload();
  return res;
}

HttpResponse handle_http(Host& host, const RequestPolicy& policy, const HttpRequest& req) {
  const Verdict verdict = check_request(policy, req);
  if (verdict.refusal) return json_response(*verdict.refusal, req.version(), req.keep_alive());
  HttpResponse res;
  if (is_dashboard_page(req)) {
    res = dashboard(req);
  } else {
    const std::string_view target = req.target();
    const std::string path(target.substr(0, target.find('?')));
    res = json_response(handle_api(host, {std::string(req.method_string()), path, req.body()}), req.version(),
                        req.keep_alive());
  }
  res.set(http::field::server, "skein");
  res.set(http::field::cache_control, "no-store");
  if (verdict.set_cookie) res.set(http::field::set_cookie, token_cookie(policy.token));
  res.keep_alive(req.keep_alive());
  if (req.method() == http::verb::head) res.body().clear();
  res.prepare_payload();
  return res;
}

}  // namespace skein::app
