// A test suite against a private PostgreSQL server (postgres_server.hpp): the server starts with
// the suite and is removed after it; each test gets a database of its own, so no test sees
// another's runs. `Base` is the fixture it extends (::testing::Test, RunFolderTest, …).
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "postgres_server.hpp"

namespace skein::test {

template <class Base = ::testing::Test>
class PostgresTest : public Base {
 public:
  static void SetUpTestSuite() { server_ = new PostgresServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

 protected:
  void SetUp() override {
    Base::SetUp();
    db_ = "t" + std::to_string(++count_);
    server_->create_database(db_);
  }
  std::string url() const { return server_->url(db_); }

  static inline PostgresServer* server_ = nullptr;
  static inline int count_ = 0;
  std::string db_;
};

}  // namespace skein::test
