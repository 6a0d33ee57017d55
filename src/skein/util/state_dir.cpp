#include "skein/state_dir.hpp"

#include <cstdlib>

namespace skein {

std::filesystem::path state_dir() {
  if (const char* d = std::getenv("SKEIN_STATE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::filesystem::path(x) / "skein";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/tmp") / ".local/state/skein";
}

}  // namespace skein
