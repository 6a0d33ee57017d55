// What the co_await of an asynchronous call does when its run is cancelled, for the places a run
// goes on without one (a node routed in code, a reply recorded at once): it goes no further.
#pragma once
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

namespace skein {

// Throws operation_aborted, as Asio's co_await does, when `state` (the coroutine's
// `co_await this_coro::cancellation_state` `.cancelled()`) says the run was cancelled.
inline void throw_if_cancelled(boost::asio::cancellation_type state) {
  if (state != boost::asio::cancellation_type::none)
    throw boost::system::system_error(boost::asio::error::operation_aborted, "co_await");
}

}  // namespace skein
