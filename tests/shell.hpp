// Runs a shell command for a test and gives its exit status and its stdout + stderr.
#pragma once
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace skein::test {

// The `skein` binary of this build.
inline const std::string kSkein = std::string(SKEIN_BINARY_DIR) + "/skein";

struct Shell {
  int status;
  std::string out;
};

inline Shell shell(const std::string& command) {
  Shell r{-1, ""};
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace skein::test
