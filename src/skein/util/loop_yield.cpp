#include "loop_yield.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace skein {

namespace asio = boost::asio;

asio::awaitable<void> yield_to_loop() {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [](auto handler) {
        const auto ex = asio::get_associated_executor(handler);
        if (const auto* io = ex.template target<asio::io_context::executor_type>())
          asio::defer(asio::bind_executor(*io, std::move(handler)));
        else
          asio::post(std::move(handler));
      },
      asio::use_awaitable);
}

}  // namespace skein
