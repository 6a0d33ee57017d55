// A test process's own folder for the files its tests make: <temp>/skein-test-<pid>, removed with
// everything in it when the process exits normally with every test passed, kept after a failure
// (for a look). A child forked by a test never removes it. Thread-safe (a function-local static).
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace skein::test {

inline const std::filesystem::path& scratch_root() {
  struct Root {
    pid_t owner = ::getpid();
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("skein-test-" + std::to_string(owner));
    Root() { std::filesystem::create_directories(path); }
    ~Root() {
      if (::getpid() != owner || !::testing::UnitTest::GetInstance()->Passed()) return;
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Root root;  // made during a test, after gtest's own: destroyed before it
  return root.path;
}

}  // namespace skein::test
