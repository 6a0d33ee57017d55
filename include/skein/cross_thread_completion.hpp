// Completing an Asio operation from another thread (an engine thread, the broker's lifecycle
// threads, the spawner thread): one piece for every async operation Skein implements.
#pragma once
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <tuple>
#include <utility>

namespace skein::detail {

// Wraps an Asio completion handler into a copyable callable that may be invoked once, from any
// thread, with the completion's arguments. It posts the handler to its associated executor (the
// handler never runs on the invoking thread), clearing the handler's cancellation slot first. The
// invoking thread keeps its own work guard until `post` has returned: the caller's io_context
// cannot run out of work, and be destroyed, while `post` still touches it.
template <typename Handler>
auto cross_thread_completion(Handler handler) {
  namespace asio = boost::asio;
  auto work = asio::make_work_guard(asio::get_associated_executor(handler));
  auto shared = std::make_shared<Handler>(std::move(handler));
  return [shared, work](auto&&... args) mutable {
    asio::post(work.get_executor(),
               [shared, work, done = std::make_tuple(std::forward<decltype(args)>(args)...)]() mutable {
                 auto slot = asio::get_associated_cancellation_slot(*shared);
                 if (slot.is_connected()) slot.clear();
                 std::apply([&](auto&&... a) { std::move (*shared)(std::move(a)...); }, std::move(done));
               });
    shared.reset();
    work.reset();  // only now: this thread's guard outlives its `post`
  };
}

}  // namespace skein::detail
