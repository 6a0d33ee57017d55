// `skein serve [FILE…]`: the HTTP API and the dashboard over a host of the files.
#include <fmt/format.h>

#include <sys/resource.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "serve/server.hpp"

namespace skein::app {

namespace {

// SIGINT and SIGTERM write to a pipe the server watches; installed before the host starts and
// kept until the process ends, so no signal ever finds the default action (a signal while the host
// starts stops the server as soon as it runs; one during the shutdown changes nothing).
int stop_pipe[2] = {-1, -1};

void on_stop_signal(int) {
  const int saved = errno;
  const char c = 's';
  [[maybe_unused]] ssize_t n = ::write(stop_pipe[1], &c, 1);
  errno = saved;
}

bool install_stop_signals() {
  if (::pipe2(stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  return ::sigaction(SIGINT, &sa, nullptr) == 0 && ::sigaction(SIGTERM, &sa, nullptr) == 0;
}

// Many browsers and clients at once: the soft limit of open descriptors up to the hard one.
void raise_open_files_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

// Serves until SIGINT or SIGTERM.
void serve(Host& host, const ServeOptions& so) {
  Server server(host, so);
  server.stop_when_readable(stop_pipe[0]);
  const std::string where = so.address.find(':') == std::string::npos ? so.address : "[" + so.address + "]";
  std::cout << fmt::format("skein serve: http://{}:{}/ ({} files{})", where, server.port(), host.files().size(),
                           so.token.empty() ? "" : ", token required")
            << std::endl;
  std::cerr << "note: engine `local` runs the random-weight fixture model unless SKEIN_LOCAL_MODEL points at a real "
               "GGUF: its outputs are valid but meaningless.\n";
  server.run();
}

}  // namespace

int serve_command(const ServeArgs& args) {
  HostOptions ho;
  ho.files = args.files;
  ho.state_dir = args.state_dir;
  ho.limits = args.limits;
  ho.store_url = args.store.url;
  ho.retention = args.store.retention;
  ho.max_store_bytes = uint64_t(args.store.max_store_mb * 1024 * 1024);
  ServeOptions so;
  so.address = args.address;
  so.port = args.port;
  so.token = args.token;
  so.allow_hosts = args.allow_hosts;
  so.allow_origins = args.allow_origins;
  so.header_timeout = std::chrono::milliseconds(int64_t(args.header_timeout * 1000));
  if (so.token.empty())
    if (const char* t = std::getenv("SKEIN_TOKEN")) so.token = t;
  raise_open_files_limit();
  if (!install_stop_signals()) {
    std::cerr << "skein serve: cannot install the signal handlers\n";
    return 2;
  }
  try {
    Host host(ho);
    serve(host, so);
    std::cerr << "skein serve: stopping (active runs are cancelled)\n";
  } catch (const Error& e) {
    std::cerr << "skein serve: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace skein::app
