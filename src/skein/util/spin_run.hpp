// Runs an io_context on the calling thread, as run() does, but polls it for up to `spin` after its
// last handler before it sleeps: work posted meanwhile (a run submitted just after the last one
// ended, a gate answered) starts at once. A sleeping loop costs the poster a wake-up call and the
// work the sleeper's wake, 20-35 us on a VM, more than the work itself. The price: up to `spin` of
// one core after each burst of work, nothing while idle longer; the spin offers the core to any
// thread waiting for it (sched_yield). No handler is delayed by it.
//
// Returns when `io` runs out of work or is stopped. Exceptions from handlers propagate as from
// run(). spin <= 0, or a thread allowed one CPU by its affinity (the spin would only delay the
// poster; a CPU quota is not seen): io.run().
// (Each poll is a run of its own to asio: its per-thread cache of small allocations lasts one
// burst of work, not the thread's life.)
#pragma once
#include <boost/asio/io_context.hpp>
#include <chrono>

namespace skein {

void spin_run(boost::asio::io_context& io, std::chrono::nanoseconds spin);

}  // namespace skein
