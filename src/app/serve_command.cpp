// `skein serve [FILE…]`: the HTTP API and the dashboard over a host of the files.
#include <fmt/format.h>

#include <sys/resource.h>

#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "serve/server.hpp"

namespace skein::app {

namespace {

// Many browsers and clients at once: the soft limit of open descriptors up to the hard one.
void raise_open_files_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
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
  try {
    Host host(ho);
    Server server(host, so);
    const std::string where = so.address.find(':') == std::string::npos ? so.address : "[" + so.address + "]";
    std::cout << fmt::format("skein serve: http://{}:{}/ ({} files{})", where, server.port(), host.files().size(),
                             so.token.empty() ? "" : ", token required")
              << std::endl;
    std::cerr << "note: engine `local` runs the random-weight fixture model unless SKEIN_LOCAL_MODEL points at a real "
                 "GGUF: its outputs are valid but meaningless.\n";
    server.run();
    std::cerr << "skein serve: stopping (active runs are cancelled)\n";
  } catch (const Error& e) {
    std::cerr << "skein serve: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace skein::app
