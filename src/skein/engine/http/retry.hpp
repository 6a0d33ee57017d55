// Requests that retry what is worth retrying: 408, 429, 5xx, timeouts and connection errors, with
// exponential back-off and full jitter, or the server's Retry-After when it sends one.
#pragma once
#include "http_client.hpp"

namespace skein::http {

struct RetryPolicy {
  int retries = 4;  // attempts after the first
  double base_s = 0.5, max_s = 20;
};

bool retryable(int status);

// The last response (any status), or throws the last attempt's system_error when no response came.
// A cancellation (operation_aborted) is never retried.
boost::asio::awaitable<Response> send_with_retries(const Url& url, const Request& request, const RetryPolicy& policy);

}  // namespace skein::http
