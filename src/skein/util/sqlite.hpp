// A SQLite database file opened in WAL mode (shared by processes), and prepared statements
// finalized on every path. Errors are skein::Error naming what the file is for.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <type_traits>
#include "skein/mutex.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace skein {

class SqliteDb {
 public:
  // Opens or creates `file` (and its folder); `what` names it in errors ("response cache").
  SqliteDb(const std::filesystem::path& file, std::string what);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  void exec(const std::string& sql);
  // Runs `f` in a write transaction (BEGIN IMMEDIATE: the write lock first, waiting up to the busy
  // timeout for another process's); rolls back and rethrows when `f` or the commit throws. (The
  // caller holds what `f` requires: a lambda says so, `[&]() SKEIN_REQUIRES(mu) {…}`.)
  template <typename F>
  auto write_transaction(F&& f) SKEIN_NO_THREAD_SAFETY_ANALYSIS {
    exec("BEGIN IMMEDIATE");
    try {
      if constexpr (std::is_void_v<decltype(f())>) {
        f();
        exec("COMMIT");
      } else {
        auto result = f();
        exec("COMMIT");
        return result;
      }
    } catch (...) {
      rollback();
      throw;
    }
  }
  sqlite3* handle() const { return db_; }
  [[noreturn]] void fail() const;  // throws the last error
  void rollback() noexcept;        // of the open transaction, if any

 private:
  sqlite3* db_ = nullptr;
  std::string what_;
};

class Statement {
 public:
  Statement(SqliteDb& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, const std::string& text);
  Statement& bind(int i, int64_t value);
  bool step();   // true: a row
  void reset();  // ready to bind and step again
  std::string text(int column) const;
  int64_t integer(int column) const;

 private:
  SqliteDb& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace skein
