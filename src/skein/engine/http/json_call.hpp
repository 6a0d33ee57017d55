// One generation over HTTP: send (with retries), then read the reply into a GenerateResult, or an
// error naming the endpoint (HTTP status and body, connection error, unreadable reply). A
// cancellation propagates.
#pragma once
#include <functional>

#include "retry.hpp"
#include "skein/engine.hpp"

namespace skein::http {

boost::asio::awaitable<GenerateResult> generate_over_http(
    const Url& url, const Request& request, const RetryPolicy& policy,
    const std::function<GenerateResult(const std::string&)>& parse);

}  // namespace skein::http
