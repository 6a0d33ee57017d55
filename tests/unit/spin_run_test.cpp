// spin_run: a loop that polls before it sleeps runs what other threads post, returns when its work
// runs out, and once its spin is over sleeps instead of spinning on (its thread's CPU time stays
// far under the time it was idle).
#include <gtest/gtest.h>
#include <time.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <thread>

#include "util/spin_run.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;

double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

TEST(SpinRunTest, RunsWhatIsPostedReturnsWhenOutOfWorkAndSleepsOnceItsSpinIsOver) {
  asio::io_context io(1);
  auto work = asio::make_work_guard(io);
  std::thread loop([&] { spin_run(io, std::chrono::milliseconds(1)); });
  auto cpu_ms_on_loop = [&] {
    std::promise<double> p;
    asio::post(io, [&] { p.set_value(thread_cpu_ms()); });
    return p.get_future().get();
  };
  const double before = cpu_ms_on_loop();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the loop idle, far past its spin
  const double after = cpu_ms_on_loop();
  EXPECT_LT(after - before, 100.0);  // spun for 1 ms, then slept (a loop spinning on: about 300)
  work.reset();
  loop.join();  // returned: out of work
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
