// The durable-run tests' model for tests/data/chaos/graph.yaml: deterministic (its answers depend
// only on what it is asked), 50 ms per call on a timer, and one line per call appended
// to a log with a single write (so a line survives a kill -9): "<life> <job> <kind> <node> <count>".
// (job, kind, node, count) identifies a call within an uninterrupted run.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "skein/graph_run.hpp"

namespace skein::test {

class ChaosLM : public GraphLM {
 public:
  ChaosLM(const std::string& log, std::string life)
      : fd_(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)), life_(std::move(life)) {}
  ~ChaosLM() override { ::close(fd_); }

  // Work while the count is under 3, then Review.
  boost::asio::awaitable<LMReply<std::string>> choose_type(const NodeType& from, const std::vector<std::string>&,
                                                           const Json& fields) override {
    const int64_t count = fields.value("count", int64_t(0));
    co_await pause("choose", fields.at("job").get<int64_t>(), from.name, count);
    co_return LMReply<std::string>{count < 3 ? "Work" : "Review", {5, 1}};
  }
  // The job carried on; Work counts one more.
  boost::asio::awaitable<LMReply<Json>> fill(const NodeType& target, const Json&, const std::string&,
                                             const TraceEntry& source) override {
    const int64_t job = source.fields.at("job").get<int64_t>();
    const int64_t count = source.fields.value("count", int64_t(0)) + (target.name == "Work" ? 1 : 0);
    co_await pause("fill", job, target.name, count);
    co_return LMReply<Json>{{{"job", job}, {"count", count}}, {7, 3}};
  }

 private:
  boost::asio::awaitable<void> pause(const char* kind, int64_t job, const std::string& node, int64_t count) {
    const std::string line =
        life_ + " " + std::to_string(job) + " " + kind + " " + node + " " + std::to_string(count) + "\n";
    [[maybe_unused]] ssize_t n = ::write(fd_, line.data(), line.size());
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(50));
    co_await t.async_wait(boost::asio::use_awaitable);
  }
  int fd_;
  std::string life_;
};

}  // namespace skein::test
