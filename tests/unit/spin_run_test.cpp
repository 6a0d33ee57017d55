// spin_run: a loop that polls before it sleeps runs what other threads post, returns when its work
// runs out or it is stopped (spinning or asleep), passes a handler's exception on as run() does,
// and once its spin is over sleeps instead of spinning on (its thread's CPU time stays far under
// the time it was idle).
#include <gtest/gtest.h>
#include <time.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <stdexcept>
#include <thread>

#include "util/spin_run.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

// What `f()` returns on the loop's thread; -1 if the loop has not run it within 20 s.
template <typename F>
double on_loop(asio::io_context& io, F f) {
  auto p = std::make_shared<std::promise<double>>();
  auto got = p->get_future();
  asio::post(io, [p, f] { p->set_value(f()); });
  return got.wait_for(20s) == std::future_status::ready ? got.get() : -1;
}

TEST(SpinRunTest, RunsWhatIsPostedReturnsWhenOutOfWorkAndSleepsOnceItsSpinIsOver) {
  asio::io_context io(1);
  auto work = asio::make_work_guard(io);
  std::thread loop([&] { spin_run(io, 1ms); });
  const double before = on_loop(io, thread_cpu_ms);
  ASSERT_GE(before, 0);
  std::this_thread::sleep_for(300ms);  // the loop idle, far past its spin
  const double after = on_loop(io, thread_cpu_ms);
  ASSERT_GE(after, 0);
  EXPECT_LT(after - before, 100.0);  // spun for 1 ms, then slept (a loop spinning on: about 300)
  work.reset();
  loop.join();  // returned: out of work
  EXPECT_TRUE(io.stopped());
}

TEST(SpinRunTest, AStopFromAnotherThreadEndsItSpinningOrAsleep) {
  for (const auto spin : {std::chrono::nanoseconds(1h), std::chrono::nanoseconds(1us)}) {
    asio::io_context io(1);
    auto work = asio::make_work_guard(io);
    std::promise<void> returned;
    std::thread loop([&] {
      spin_run(io, spin);
      returned.set_value();
    });
    ASSERT_EQ(on_loop(io, [] { return 1.0; }), 1.0);  // running; then idle: spinning (1 h), or asleep
    io.stop();
    EXPECT_EQ(returned.get_future().wait_for(20s), std::future_status::ready);
    loop.join();
  }
}

TEST(SpinRunTest, AHandlersExceptionLeavesItAndTheNextCallGoesOn) {
  asio::io_context io(1);
  int ran = 0;
  asio::post(io, [] { throw std::runtime_error("boom"); });
  asio::post(io, [&] { ++ran; });
  EXPECT_THROW(spin_run(io, 1ms), std::runtime_error);
  EXPECT_EQ(ran, 0);
  spin_run(io, 1ms);
  EXPECT_EQ(ran, 1);
  EXPECT_TRUE(io.stopped());
}

TEST(SpinRunTest, ASpinOfZeroIsRun) {
  asio::io_context io(1);
  int ran = 0;
  for (int i = 0; i < 3; ++i) asio::post(io, [&] { ++ran; });
  spin_run(io, {});
  EXPECT_EQ(ran, 3);
  EXPECT_TRUE(io.stopped());
}

}  // namespace
}  // namespace skein
