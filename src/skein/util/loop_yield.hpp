// Lets the other work queued on a coroutine's loop run before the coroutine goes on: a graph run
// yields to the other runs between its nodes. The coroutine is resumed after everything queued
// when it yielded.
//
// On an io_context's executor (the run loops') it costs one queued operation: asio's `defer`
// queues a continuation on the running thread's own queue, without a lock, and the scheduler
// appends it to the shared queue once the current handler returns; the coroutine is resumed
// straight from the io_context's executor. `co_await post(ex, use_awaitable)` goes through the
// type-erased executor twice and the shared queue's lock: an eighth of a node transition's cost.
// On any other executor it is that post.
//
// Call from a coroutine, on its executor's thread.
#pragma once
#include <boost/asio/awaitable.hpp>

namespace skein {

boost::asio::awaitable<void> yield_to_loop();

}  // namespace skein
