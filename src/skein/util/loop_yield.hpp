// Lets the other work queued on a coroutine's loop run before the coroutine goes on: a graph run
// yields to the other runs between its nodes. The coroutine is resumed after everything queued
// when it yielded.
//
// On an io_context's executor (the run loops') it costs one queued operation: asio's `defer`
// queues it on the running thread's own queue (appended to the shared one, under its lock, once
// the current handler returns) and the coroutine is resumed straight from the io_context's
// executor. `co_await post(ex, use_awaitable)` queues the same way on a loop run by one thread, but
// goes through the type-erased executor twice (a work-tracking copy and a dispatch on the way
// back): about a tenth of an instant node's instructions. On any other executor (a strand, a
// pool) it is that post.
// Call from a coroutine, on its executor's thread.
#pragma once
#include <boost/asio/awaitable.hpp>

namespace skein {

boost::asio::awaitable<void> yield_to_loop();

}  // namespace skein
