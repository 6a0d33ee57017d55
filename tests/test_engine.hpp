// A controllable engine for tests and benchmarks: answers instantly (or after a gate), counts its
// live instances, and a factory that can delay or fail starts.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "skein/engine.hpp"
#include "skein/engine_config.hpp"
#include "skein/json.hpp"
#include "skein/schema.hpp"

namespace skein::test {

class TestEngine : public Engine {
 public:
  explicit TestEngine(std::string name, std::string reply = "{}") : name_(std::move(name)), reply_(std::move(reply)) {
    ++live();
  }
  ~TestEngine() override { --live(); }
  static std::atomic<int>& live() {
    static std::atomic<int> n{0};
    return n;
  }
  const std::string& name() const override { return name_; }
  bool alive() const override { return !dead_; }
  void die() { dead_ = true; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest, std::function<void(GenerateResult)> done) override {
    GenerateResult r;
    if (dead_) {
      r.error = "engine died";
      done(std::move(r));
      return std::make_shared<Nothing>();
    }
    r.text = reply_;
    r.finish = Finish::stop;
    r.queued_ns = r.started_ns = r.first_token_ns = r.finished_ns = now_ns();
    done(std::move(r));
    return std::make_shared<Nothing>();
  }

 private:
  struct Nothing : PendingRequest {
    void cancel() override {}
  };
  std::string name_, reply_;
  std::atomic<bool> dead_{false};
};

// A gate threads wait at until the test opens it.
class Gate {
 public:
  void open() {
    std::lock_guard l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts until `n` have arrived.
class Latch {
 public:
  explicit Latch(int n) : n_(n) {}
  void arrive() {
    std::lock_guard l(mu_);
    if (--n_ <= 0) cv_.notify_all();
  }
  void wait() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return n_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_;
};

// A reply that fits `type`: {"next": <its first choice>} for a routing choice, else every property
// filled from its type (first enum value, 1, true, "s").
inline std::string reply_for(const Type* type) {
  if (!type) return "{}";
  Json s = type->schema();
  if (s.contains("$ref") && s.contains("$defs")) {  // a named type: {"$ref": "#/$defs/N", "$defs": …}
    const std::string ref = s["$ref"].get<std::string>();
    s = s["$defs"][ref.substr(ref.rfind('/') + 1)];
  }
  const Json properties = s.is_object() ? s.value("properties", Json::object()) : Json::object();
  Json out = Json::object();
  for (const auto& [name, p] : properties.items()) {
    const std::string t = p.value("type", "");
    out[name] = p.contains("enum")                ? p["enum"][0]
                : t == "integer" || t == "number" ? Json(1)
                : t == "boolean"                  ? Json(true)
                                                  : Json("s");
  }
  return out.dump();
}

// An engine whose requests are really in flight: each completes on the engine's own thread with a
// reply fitting its output type. Destroying it with requests in flight (an engine stopped while
// leased) is counted in `stopped_in_use`.
class SchemaEngine : public Engine {
 public:
  explicit SchemaEngine(std::string name)
      : name_(std::move(name)), work_(io_.get_executor()), thread_([this] { io_.run(); }) {
    ++live();
  }
  ~SchemaEngine() override {
    if (in_flight_.load() > 0) ++stopped_in_use();
    work_.reset();
    thread_.join();
    --live();
  }
  static std::atomic<int>& live() {
    static std::atomic<int> n{0};
    return n;
  }
  static std::atomic<int>& stopped_in_use() {
    static std::atomic<int> n{0};
    return n;
  }
  const std::string& name() const override { return name_; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest req, std::function<void(GenerateResult)> done) override {
    ++in_flight_;
    boost::asio::post(io_, [this, reply = reply_for(req.output.get()), done = std::move(done)] {
      GenerateResult r;
      r.text = reply;
      r.finish = Finish::stop;
      r.queued_ns = r.started_ns = r.first_token_ns = r.finished_ns = now_ns();
      --in_flight_;
      done(std::move(r));
    });
    return std::make_shared<Nothing>();
  }

 private:
  struct Nothing : PendingRequest {
    void cancel() override {}
  };
  std::string name_;
  std::atomic<int> in_flight_{0};
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

inline EngineConfig test_config(const std::string& name, double keep_alive = 180) {
  EngineConfig c;
  c.name = name;
  c.backend = "test";
  c.model = "test-model";
  c.keep_alive = keep_alive;
  return c;
}

}  // namespace skein::test
