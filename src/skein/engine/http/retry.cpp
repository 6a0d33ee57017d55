#include "retry.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <random>

namespace skein::http {

namespace asio = boost::asio;

bool retryable(int status) { return status == 429 || status == 408 || status >= 500; }

namespace {

double back_off_seconds(const RetryPolicy& p, int attempt, double retry_after) {
  if (retry_after > 0) return retry_after;
  thread_local std::mt19937 rng{std::random_device{}()};
  const double cap = std::min(p.max_s, p.base_s * double(1 << std::min(attempt - 1, 10)));
  return std::uniform_real_distribution<double>(cap / 2, cap)(rng);
}

}  // namespace

asio::awaitable<Response> send_with_retries(const Url& url, const Request& request, const RetryPolicy& policy) {
  double retry_after = 0;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor,
                               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(back_off_seconds(policy, attempt, retry_after))));
      co_await timer.async_wait(asio::use_awaitable);
    }
    const bool last = attempt >= policy.retries;
    try {
      Response res = co_await send(url, request);
      if (res.status == 200 || !retryable(res.status) || last) co_return res;
      retry_after = res.headers.count("retry-after") ? std::atof(res.headers["retry-after"].c_str()) : 0;
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted || last) throw;
      retry_after = 0;
    }
  }
}

}  // namespace skein::http
