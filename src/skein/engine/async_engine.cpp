#include "async_engine.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>

namespace skein {

namespace asio = boost::asio;

struct AsyncEngine::Job : PendingRequest, std::enable_shared_from_this<Job> {
  GenerateRequest request;
  std::function<void(GenerateResult)> done;
  int64_t queued_ns = 0;
  bool cancelled = false;  // io thread only
  bool finished = false;   // io thread only
  asio::cancellation_signal signal;
  asio::io_context* io = nullptr;

  void cancel() override {
    asio::post(*io, [self = shared_from_this()] {
      self->cancelled = true;
      self->signal.emit(asio::cancellation_type::terminal);
    });
  }

  void finish(GenerateResult r) {
    if (finished) return;
    finished = true;
    r.queued_ns = queued_ns;
    if (!r.finished_ns) r.finished_ns = now_ns();
    auto callback = std::move(done);
    callback(std::move(r));
  }
};

AsyncEngine::AsyncEngine(std::string name, int parallel)
    : name_(std::move(name)), parallel_(std::max(parallel, 1)), work_(io_.get_executor()) {
  thread_ = std::thread([this] { io_.run(); });
}

AsyncEngine::~AsyncEngine() { shutdown(); }

void AsyncEngine::shutdown() {
  if (!thread_.joinable()) return;
  std::promise<void> drained;
  asio::post(io_, [this, &drained] {
    stopped_ = true;
    for (auto& job : waiting_) {
      GenerateResult r;
      r.error = "engine '" + name_ + "' stopped";
      job->finish(std::move(r));
    }
    waiting_.clear();
    for (auto& weak : active_)
      if (auto job = weak.lock()) job->signal.emit(asio::cancellation_type::terminal);
    drained.set_value();
  });
  drained.get_future().wait();
  work_.reset();
  thread_.join();  // returns once every running coroutine has unwound
}

std::shared_ptr<PendingRequest> AsyncEngine::submit(GenerateRequest request, std::function<void(GenerateResult)> done) {
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  job->done = std::move(done);
  job->queued_ns = now_ns();
  job->io = &io_;
  asio::post(io_, [this, job] {
    if (stopped_) {
      GenerateResult r;
      r.error = "engine '" + name_ + "' stopped";
      return job->finish(std::move(r));
    }
    waiting_.push_back(job);
    start_next();
  });
  return job;
}

void AsyncEngine::start_next() {
  while (running_ < parallel_ && !waiting_.empty()) {
    auto job = waiting_.front();
    waiting_.pop_front();
    if (job->cancelled) {
      GenerateResult r;
      r.finish = Finish::cancelled;
      job->finish(std::move(r));
      continue;
    }
    ++running_;
    active_.push_back(job);
    asio::co_spawn(io_, run(job), asio::bind_cancellation_slot(job->signal.slot(), asio::detached));
  }
}

asio::awaitable<void> AsyncEngine::run(std::shared_ptr<Job> job) {
  GenerateResult r;
  const int64_t started = now_ns();
  try {
    r = co_await generate(job->request);
  } catch (const std::exception& e) {
    r = GenerateResult{};
    r.error = e.what();
  }
  if (job->cancelled) r.finish = Finish::cancelled, r.error.clear();
  if (!r.started_ns) r.started_ns = started;
  --running_;
  std::erase_if(active_, [&](const std::weak_ptr<Job>& w) { return w.expired() || w.lock() == job; });
  job->finish(std::move(r));
  if (!stopped_) start_next();
}

}  // namespace skein
