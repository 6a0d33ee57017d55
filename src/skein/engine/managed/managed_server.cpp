#include "managed_server.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>
#include <mutex>

#include "engine/engine_options.hpp"
#include "engine/http/http_client.hpp"
#include "engine/openai/openai_engine.hpp"
#include "engine/process/subprocess.hpp"
#include "skein/state_dir.hpp"
#include "util/free_port.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

fs::path servers_dir() { return state_dir() / "servers"; }

void sleep_for(std::chrono::milliseconds d) {
  boost::asio::io_context io;
  boost::asio::steady_timer(io, d).wait();
}

class ManagedServer final : public Engine {
 public:
  explicit ManagedServer(const EngineConfig& config) : name_(config.name) {
    const int port = int_option(config, "port", 0) > 0 ? int_option(config, "port", 0) : free_loopback_port();
    const ServerCommand cmd = server_command(config, port);
    log_ = (state_dir() / "logs" / (name_ + "-" + std::to_string(port) + ".log")).string();
    SpawnOptions spawn;
    spawn.argv = cmd.argv;
    spawn.env = cmd.env;
    spawn.log_file = log_;
    try {
      process_ = Subprocess::spawn(spawn);
    } catch (const Error& e) {
      throw EngineError(name_, e.what());
    }
    write_pid_file(config.backend, port);
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    wait_healthy(base + "/health", config.startup_timeout);
    OpenAIOptions o;
    o.endpoint = base + "/v1";
    o.model = config.model;
    o.parallel = config.parallel;
    inner_ = make_openai_engine(name_, o);
  }

  ~ManagedServer() override {
    inner_.reset();
    process_.stop(std::chrono::seconds(10));
    std::error_code ec;
    fs::remove(pid_file_, ec);
  }

  const std::string& name() const override { return name_; }
  bool alive() const override {
    std::lock_guard lock(mu_);
    return !process_.poll().has_value();
  }
  std::shared_ptr<PendingRequest> submit(GenerateRequest r, std::function<void(GenerateResult)> done) override {
    return inner_->submit(std::move(r), std::move(done));
  }

 private:
  void write_pid_file(const std::string& backend, int port) {
    fs::create_directories(servers_dir());
    pid_file_ = servers_dir() / (name_ + "." + std::to_string(process_.pid()) + ".json");
    std::ofstream(pid_file_) << Json{
        {"engine", name_},
        {"backend", backend},
        {"pid", process_.pid()},
        {"port", port},
        {"skein_pid", ::getpid()}}.dump();
  }

  // Polls /health with back-off; fails on early exit or timeout, quoting the log.
  void wait_healthy(const std::string& url, double timeout_s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (auto delay = std::chrono::milliseconds(20);; delay = std::min(delay * 2, std::chrono::milliseconds(1000))) {
      if (http::get_status(url, std::chrono::seconds(2)) == 200) return;
      if (auto status = process_.poll()) fail("exited during start-up (status " + std::to_string(*status) + ")");
      if (std::chrono::steady_clock::now() > deadline)
        fail("not healthy within startup_timeout (" + std::to_string(int(timeout_s)) + " s)");
      sleep_for(delay);
    }
  }

  [[noreturn]] void fail(const std::string& why) {
    process_.stop(std::chrono::seconds(2));
    std::error_code ec;
    fs::remove(pid_file_, ec);
    throw EngineError(name_, "server " + why + "; last lines of " + log_ + ":\n" + tail_lines(log_, 15));
  }

  std::string name_, log_;
  fs::path pid_file_;
  mutable std::mutex mu_;  // poll() reaps, so concurrent alive() calls take turns
  mutable Subprocess process_;
  std::unique_ptr<Engine> inner_;
};

bool is_server_process(int pid, const std::string& backend) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmdline.find(backend == "vllm" ? "vllm" : "llama-server") != std::string::npos;
}

}  // namespace

ServerCommand server_command(const EngineConfig& c, int port) {
  ServerCommand cmd;
  const std::string p = std::to_string(port);
  if (c.backend == "vllm") {
    cmd.argv = {
        string_option(c, "command", "vllm"), "serve", c.model, "--host", "127.0.0.1", "--port", p, "--max-num-seqs",
        std::to_string(c.parallel)};
    if (c.options.contains("context"))
      cmd.argv.insert(cmd.argv.end(), {"--max-model-len", std::to_string(int_option(c, "context", 0))});
  } else {
    cmd.argv = {string_option(c, "command", SKEIN_LLAMA_SERVER),
                "-m",
                c.model,
                "--host",
                "127.0.0.1",
                "--port",
                p,
                "-np",
                std::to_string(c.parallel),
                "-c",
                std::to_string(c.parallel * int_option(c, "context", 2048))};
  }
  if (c.options.contains("args"))
    for (const auto& a : c.options["args"]) cmd.argv.push_back(a.get<std::string>());
  if (c.options.contains("gpus")) cmd.env["CUDA_VISIBLE_DEVICES"] = string_option(c, "gpus");
  if (c.options.contains("env"))
    for (const auto& [k, v] : c.options["env"].items()) cmd.env[k] = v.get<std::string>();
  return cmd;
}

std::unique_ptr<Engine> start_managed_server(const EngineConfig& config) {
  return std::make_unique<ManagedServer>(config);
}

std::vector<ServerRecord> recorded_servers() {
  std::vector<ServerRecord> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(servers_dir(), ec)) {
    try {
      std::ifstream in(entry.path());
      const Json j = Json::parse(in);
      out.push_back({j.at("engine"), j.at("backend"), j.at("pid"), j.at("port"), entry.path()});
    } catch (const std::exception&) {
      continue;  // not one of ours
    }
  }
  return out;
}

bool stop_recorded_server(const ServerRecord& r) {
  bool stopped = false;
  if (r.pid > 1 && is_server_process(r.pid, r.backend)) {
    // Not our child (its Skein is gone): wait for its exit through a pidfd, then make sure.
    const int pidfd = int(::syscall(SYS_pidfd_open, r.pid, 0));
    kill_group(r.pid, SIGTERM);
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      ::poll(&p, 1, 5000);
      ::close(pidfd);
    }
    kill_group(r.pid, SIGKILL);
    stopped = true;
  }
  std::error_code ec;
  fs::remove(r.pid_file, ec);
  return stopped;
}

}  // namespace skein
