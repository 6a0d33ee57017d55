// Typed generations of many requests at once (a chain Step over a batch of records). Each request
// is asked as generate_typed asks it: at most 1 + `retries` attempts, each retry showing the model
// its refused reply and why. But there is no coroutine per request: the engine's replies are queued
// as they arrive, from any thread, and taken on the caller's executor one burst at a time (a post
// per burst, not per reply). A request is retried as soon as its reply is refused, without waiting
// for the others.
//
// Thread safety: a coroutine on the caller's executor, which must be single-threaded (an io_context
// run by one thread, or a strand), as for async_generate. It suspends until every request has its
// outcome and never blocks. A cancellation of the caller cancels every request in flight; once all
// have completed it is rethrown as operation_aborted. An exception that ends a request (a submit
// that throws, a validator that does) is rethrown once every other request has ended, as gather
// rethrows a coroutine's. No reply cache: a cached Step goes through generate_typed, one coroutine
// per record.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <vector>

#include "typed_generation.hpp"

namespace skein {

// The outcomes of `reqs` (each with its `output` type set), in their order.
boost::asio::awaitable<std::vector<TypedOutcome>> generate_typed_all(Engine& engine, std::vector<GenerateRequest> reqs,
                                                                     int retries);

}  // namespace skein
