// `skein serve [FILE…]`: the HTTP API and the dashboard over a host of the files.
#include <fmt/format.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "serve/server.hpp"

namespace skein::app {

namespace {

volatile std::sig_atomic_t stop_requested = 0;
void note_stop(int) { stop_requested = 1; }

// SIGINT and SIGTERM only noted: while the host starts (the server's own handling is not in place
// yet) and while it shuts down (a second signal must not cut that short).
void note_stop_signals() {
  std::signal(SIGINT, note_stop);
  std::signal(SIGTERM, note_stop);
}

// Many browsers and clients at once: the soft limit of open descriptors up to the hard one.
void raise_open_files_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

// Serves until SIGINT or SIGTERM (the server's signal set handles them meanwhile).
void serve(Host& host, const ServeOptions& so) {
  Server server(host, so);
  if (stop_requested) return;  // a signal came while the host started
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
  note_stop_signals();
  try {
    Host host(ho);
    serve(host, so);
    note_stop_signals();  // the server's signal set restored the default handlers
    std::cerr << "skein serve: stopping (active runs are cancelled)\n";
  } catch (const Error& e) {
    std::cerr << "skein serve: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace skein::app
