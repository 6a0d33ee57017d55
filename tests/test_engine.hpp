// A controllable engine for tests and benchmarks: answers instantly (or after a gate), counts its
// live instances, and a factory that can delay or fail starts.
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "skein/engine.hpp"
#include "skein/engine_config.hpp"

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

inline EngineConfig test_config(const std::string& name, double keep_alive = 180) {
  EngineConfig c;
  c.name = name;
  c.backend = "test";
  c.model = "test-model";
  c.keep_alive = keep_alive;
  return c;
}

}  // namespace skein::test
