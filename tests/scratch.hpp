// A test process's own folder for the files its tests make: <temp>/skein-test-<pid>, removed with
// everything in it when the process exits normally with every test passed, kept after a failure
// (for a look). A child forked by a test never removes it. Thread-safe (a function-local static).
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace skein::test {

inline const std::filesystem::path& scratch_root() {
  struct Root {
    pid_t owner = ::getpid();
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("skein-test-" + std::to_string(owner));
    Root() {
      ::testing::UnitTest::GetInstance();  // made before this root: destroyed after it
      std::filesystem::create_directories(path);
    }
    ~Root() {
      if (::getpid() != owner) return;
      if (!::testing::UnitTest::GetInstance()->Passed()) {
        std::fprintf(stderr, "a test failed: its files are kept in %s\n", path.c_str());
        return;
      }
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Root root;
  return root.path;
}

}  // namespace skein::test
