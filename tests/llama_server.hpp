// A real llama-server (built by setup from the pinned llama.cpp tree) serving a random-weight
// fixture (`local` unless told) on 127.0.0.1, for integration tests and the benchmarks' peer runs. Started in its own
// process group; stopped (and its group checked gone) by the destructor.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "engine/http/http_client.hpp"
#include "engine/process/subprocess.hpp"
#include "fixture.hpp"
#include "util/free_port.hpp"

namespace skein::test {

inline int free_port() { return free_loopback_port(); }

inline int http_status(const std::string& url) { return http::get_status(url, std::chrono::seconds(2)); }

class LlamaServer {
 public:
  explicit LlamaServer(int slots = 4, const std::string& model = model_path("local"), int context_per_slot = 1024,
                       int threads = 1)
      : port_(free_port()) {
    log_ = (std::filesystem::temp_directory_path() / ("skein-llama-server-" + std::to_string(port_) + ".log")).string();
    SpawnOptions o;
    o.argv = {SKEIN_LLAMA_SERVER,
              "-m",
              model,
              "--host",
              "127.0.0.1",
              "--port",
              std::to_string(port_),
              "-np",
              std::to_string(slots),
              "-c",
              std::to_string(slots * context_per_slot),
              "--no-jinja",
              "-t",
              std::to_string(threads),
              "--no-webui"};
    o.log_file = log_;
    process_ = Subprocess::spawn(o);
    // Wait for the condition "health answers 200", backing off; give up if the server exits.
    for (int delay_ms = 10; http_status(base() + "/health") != 200; delay_ms = std::min(delay_ms * 2, 200)) {
      if (process_.poll()) throw std::runtime_error("llama-server exited:\n" + tail_lines(log_, 20));
      boost::asio::io_context io;
      boost::asio::steady_timer(io, std::chrono::milliseconds(delay_ms)).wait();
    }
  }
  ~LlamaServer() { process_.stop(std::chrono::seconds(5)); }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string endpoint() const { return base() + "/v1"; }
  pid_t pid() const { return process_.pid(); }
  Subprocess& process() { return process_; }

 private:
  int port_;
  std::string log_;
  Subprocess process_;
};

}  // namespace skein::test
