// Shared by the file tests: the message of the ConfigError a parse raises ("" when it succeeds),
// and a text edit that must find what it replaces.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "skein/error.hpp"

namespace skein::test {

template <typename Parse>
std::string error_of(Parse parse) {
  try {
    parse();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

inline std::string replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

}  // namespace skein::test
