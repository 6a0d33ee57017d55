#include "http_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <stdexcept>

namespace skein::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::use_awaitable;

Url parse_url(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("http://", 0) == 0)
    rest = url.substr(7);
  else if (url.rfind("https://", 0) == 0)
    u.https = true, rest = url.substr(8);
  else
    throw std::invalid_argument("'" + url + "' is not an http:// or https:// URL");
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  u.path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
    u.port = u.https ? "443" : "80";
  }
  if (u.host.empty()) throw std::invalid_argument("'" + url + "' has no host");
  return u;
}

namespace {

beast::http::request<beast::http::string_body> make_request(const Url& url, const Request& req) {
  beast::http::request<beast::http::string_body> r{beast::http::string_to_verb(req.method), req.target, 11};
  r.set(beast::http::field::host, url.host);
  r.set(beast::http::field::user_agent, "skein");
  for (const auto& [k, v] : req.headers) r.set(k, v);
  r.body() = req.body;
  r.prepare_payload();
  return r;
}

template <typename Stream>
asio::awaitable<Response> exchange(Stream& stream, const Url& url, const Request& req) {
  co_await beast::http::async_write(stream, make_request(url, req), use_awaitable);
  beast::flat_buffer buffer;
  beast::http::response_parser<beast::http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  co_await beast::http::async_read(stream, buffer, parser, use_awaitable);
  auto& res = parser.get();
  Response out;
  out.status = int(res.result_int());
  out.body = std::move(res.body());
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  co_return out;
}

}  // namespace

asio::awaitable<Response> send(const Url& url, const Request& req) {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  const auto endpoints = co_await resolver.async_resolve(url.host, url.port, use_awaitable);
  if (!url.https) {
    beast::tcp_stream stream(ex);
    stream.expires_after(req.timeout);
    co_await stream.async_connect(endpoints, use_awaitable);
    Response r = co_await exchange(stream, url, req);
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    co_return r;
  }
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  tls.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ex, tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()))
    throw beast::system_error(beast::error_code(int(::ERR_get_error()), asio::error::get_ssl_category()));
  stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
  beast::get_lowest_layer(stream).expires_after(req.timeout);
  co_await beast::get_lowest_layer(stream).async_connect(endpoints, use_awaitable);
  co_await stream.async_handshake(asio::ssl::stream_base::client, use_awaitable);
  co_return co_await exchange(stream, url, req);
}

}  // namespace skein::http

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace skein::http {

int get_status(const std::string& url, std::chrono::milliseconds timeout) {
  asio::io_context io;
  auto status = asio::co_spawn(
      io,
      [&]() -> asio::awaitable<int> {
        const Url u = parse_url(url);
        Request r;
        r.method = "GET";
        r.target = u.path.empty() ? "/" : u.path;
        r.timeout = timeout;
        try {
          co_return (co_await send(u, r)).status;
        } catch (const std::exception&) {
          co_return 0;
        }
      },
      asio::use_future);
  io.run();
  return status.get();
}

}  // namespace skein::http
