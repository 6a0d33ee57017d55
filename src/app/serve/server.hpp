// `skein serve`'s HTTP server (Boost.Beast, one io thread): the JSON API (api.hpp), the SSE stream
// of every run's events at /api/events, and the dashboard at /.
//
// Bound to loopback by default. Any other address needs a token; with a token set, every request
// must carry it (`Authorization: Bearer <token>`, or `?token=<token>` for the browser's page and
// event stream) and is refused with 401 otherwise.
#pragma once
#include <memory>
#include <string>

#include "../host/host.hpp"

namespace skein::app {

struct ServeOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 8686;  // 0: any free port (see Server::port)
  std::string token;
};

class Server {
 public:
  // Binds and listens. Throws Error for a non-loopback address without a token, or a failed bind.
  Server(Host& host, ServeOptions options);
  ~Server();
  unsigned short port() const;
  // Serves on the calling thread until stop(), SIGINT or SIGTERM.
  void run();
  void stop();  // from any thread

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace skein::app
