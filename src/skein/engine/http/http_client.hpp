// One HTTP(S) request as a coroutine on Boost.Beast: connect, send, read, with a deadline over
// the whole exchange. Cancelling the awaiting coroutine closes the connection at once.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <string>

namespace skein::http {

struct Url {
  bool https = false;
  std::string host, port, path;  // path without a trailing slash, e.g. "/v1"
};

// Parses "http(s)://host[:port][/path]". Throws std::invalid_argument.
Url parse_url(const std::string& url);

struct Response {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

struct Request {
  std::string method = "POST";
  std::string target;  // path + query
  std::map<std::string, std::string> headers;
  std::string body;
  std::chrono::milliseconds timeout{std::chrono::seconds(600)};
};

// Throws boost::system::system_error (connection refused, timeout: errc::timed_out, cancelled:
// operation_aborted).
boost::asio::awaitable<Response> send(const Url& url, const Request& request);

}  // namespace skein::http

namespace skein::http {

// Blocking GET for health checks: the status, or 0 when nothing answers within `timeout`.
int get_status(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace skein::http
