// `skein serve`'s HTTP server (Boost.Beast, one io thread): the JSON API (api.hpp), the SSE stream
// of every run's events at /api/events, and the dashboard at /.
//
// Bound to loopback by default. Any other address needs a token. Every request passes the checks
// of request_checks.hpp (Host, Origin, token, content type) first. A request's header must arrive
// within `header_timeout` of the connection's last request (idle and stalled connections are
// closed); a body over `body_limit` is refused with 413.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../host/host.hpp"

namespace skein::app {

struct ServeOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 8686;  // 0: any free port (see Server::port)
  std::string token;
  std::vector<std::string> allow_hosts, allow_origins;  // see RequestPolicy
  std::chrono::milliseconds header_timeout{10000};
  size_t body_limit = 64 * 1024 * 1024;
};

class Server {
 public:
  // Binds and listens. Throws Error for a non-loopback address without a token, or a failed bind.
  Server(Host& host, ServeOptions options);
  ~Server();
  unsigned short port() const;
  // Serves on the calling thread until stop().
  void run();
  void stop();  // from any thread
  // Stops once `fd` is readable: the read end of a pipe that a signal handler writes to (the
  // server installs no signal handler of its own). `fd` stays the caller's.
  void stop_when_readable(int fd);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace skein::app
