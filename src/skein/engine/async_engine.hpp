// Base of the engines whose requests are I/O (HTTP servers, subprocesses): each owns an io_context
// on its own thread, runs every request as a coroutine there, at most `parallel` at once (the rest
// wait in order), and cancels one by emitting an Asio cancellation into its coroutine, which aborts
// the socket operation or kills the process it is waiting on.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <thread>

#include "skein/engine.hpp"

namespace skein {

class AsyncEngine : public Engine {
 public:
  AsyncEngine(std::string name, int parallel);
  ~AsyncEngine() override;  // cancels what runs, fails what waits, joins the thread

  const std::string& name() const override { return name_; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest request, std::function<void(GenerateResult)> done) final;

 protected:
  // One request, run on the engine's thread. Cancellation arrives as an Asio cancellation of this
  // coroutine; throwing (or being cancelled) completes the request as error (or cancelled).
  virtual boost::asio::awaitable<GenerateResult> generate(const GenerateRequest& request) = 0;

  // Derived destructors call this first, so no coroutine runs while their members are destroyed.
  void shutdown();
  boost::asio::io_context& io() { return io_; }

 private:
  struct Job;
  void start_next();
  boost::asio::awaitable<void> run(std::shared_ptr<Job> job);

  std::string name_;
  int parallel_;
  boost::asio::io_context io_{1};  // run by thread_ alone
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  // io thread only:
  int running_ = 0;
  bool stopped_ = false;
  std::deque<std::shared_ptr<Job>> waiting_;
  std::vector<std::weak_ptr<Job>> active_;
};

}  // namespace skein
