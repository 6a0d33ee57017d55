// A private PostgreSQL server for integration tests (Debian's postgresql-15, set up by
// scripts/setup.sh), one per test process (ctest runs each test in a process of its own): initdb
// into a fresh temporary directory /tmp/skein-pg.<pid>.XXXXXX, started on a Unix socket in that
// directory only (no TCP port: nothing to collide with), fsync off (a commit reaches the kernel,
// so it survives the server killed, not the machine). Run as the `postgres` user
// when the tests run as root (CI does; initdb refuses root). stop()/start() restart it on the same
// data; the destructor stops it and removes the directory. pg_ctl -w waits for readiness itself.
// A process that died without its destructor (a crash, a timeout) leaves its server running: the
// next server made stops those of dead processes and removes their directories.
#pragma once
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "engine/process/subprocess.hpp"

namespace skein::test {

class PostgresServer {
 public:
  PostgresServer() {
    if (geteuid() == 0) as_ = "runuser -u postgres -- ";
    remove_orphans();
    std::string dir = "/tmp/skein-pg." + std::to_string(getpid()) + ".XXXXXX";
    if (!mkdtemp(dir.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = dir;
    if (!as_.empty()) sh("chown postgres " + dir_);
    sh(as_ + bin("initdb") + " -D " + dir_ + "/data -U skein -A trust --no-sync --no-locale -E UTF8 >" + dir_ +
       "/initdb.log 2>&1");
    start();
  }
  ~PostgresServer() {
    stop("immediate");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // The connection URL of database `db` (made by create_database, or the default `postgres`).
  std::string url(const std::string& db = "postgres") const {
    return "postgresql:///" + db + "?host=" + dir_ + "&user=skein";
  }
  void create_database(const std::string& db) {
    sh(bin("psql") + " -q '" + url() + "' -c 'CREATE DATABASE " + db + "'");
  }

  void start() {
    sh(as_ + bin("pg_ctl") + " -D " + dir_ + "/data -l " + dir_ + "/server.log -w -o \"-k " + dir_ +
       " -c listen_addresses= -c fsync=off -c full_page_writes=off -c max_connections=200\""
       " start >/dev/null");
    running_ = true;
  }
  // `mode`: fast (clients disconnected, clean shutdown) or immediate (as if killed).
  void stop(const std::string& mode = "fast") {
    if (!running_) return;
    running_ = false;
    sh(as_ + bin("pg_ctl") + " -D " + dir_ + "/data -m " + mode + " -w stop >/dev/null 2>&1", false);
  }
  std::string log() const { return tail_lines(dir_ + "/server.log", 30); }

 private:
  // Servers left by test processes that are gone.
  void remove_orphans() const {
    for (const auto& entry : std::filesystem::directory_iterator("/tmp")) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("skein-pg.", 0) != 0) continue;
      const int pid = std::atoi(name.c_str() + 9);
      if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH) continue;
      sh(as_ + bin("pg_ctl") + " -D " + entry.path().string() + "/data -m immediate -w stop >/dev/null 2>&1", false);
      std::error_code ec;
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
  static std::string bin(const std::string& name) { return std::string(SKEIN_PG_BIN) + "/" + name; }
  void sh(const std::string& cmd, bool must = true) const {
    if (std::system(cmd.c_str()) != 0 && must)
      throw std::runtime_error("failed: " + cmd + "\n" + tail_lines(dir_ + "/server.log", 20) +
                               tail_lines(dir_ + "/initdb.log", 20));
  }
  std::string dir_, as_;
  bool running_ = false;
};

}  // namespace skein::test
