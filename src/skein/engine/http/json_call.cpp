#include "json_call.hpp"

namespace skein::http {

namespace asio = boost::asio;

asio::awaitable<GenerateResult> generate_over_http(const Url& url, const Request& request, const RetryPolicy& policy,
                                                   const std::function<GenerateResult(const std::string&)>& parse) {
  const std::string where = (url.https ? "https://" : "http://") + url.host + ":" + url.port + request.target;
  const int64_t started = now_ns();
  GenerateResult r;
  try {
    const Response res = co_await send_with_retries(url, request, policy);
    if (res.status == 200)
      r = parse(res.body);
    else
      r.error = "HTTP " + std::to_string(res.status) + " from " + where + ": " + res.body.substr(0, 300);
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted) throw;
    r.error = e.code().message() + " (" + where + ")";
  } catch (const Json::exception& e) {
    r.error = "unreadable reply from " + where + ": " + e.what();
  }
  r.started_ns = started;
  co_return r;
}

}  // namespace skein::http
