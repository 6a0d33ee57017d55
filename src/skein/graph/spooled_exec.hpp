// An `exec` dep of a durable graph run (one with a ledger spool): its input and output are files in
// the run's spool folder (<dep>.in, <dep>.out; <dep>.pid names its process group), the command is
// spawned to outlive a killed host, holding a lock on its output file while it runs, and a shell
// around it writes its exit status to <dep>.status once it has ended. A resumed run that finds the
// files waits (on a timer) until the command is gone and, if it ended, takes what it printed: a dep
// started before a crash runs once. One that never ended (killed, never started) runs again, and so
// does one whose output was not JSON (it failed the run: a resume tries again).
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <filesystem>
#include <functional>
#include <string>

#include "skein/graph.hpp"

namespace skein {

// What the command printed. `on_process` hears of its process group starting and ending (also of
// one adopted), on the run's loop. File work runs on `blocking`.
boost::asio::awaitable<std::string> run_spooled_exec(const DepSpec& spec, const Json& params, const std::string& cwd,
                                                     const std::function<void(int group, bool running)>& on_process,
                                                     const std::filesystem::path& spool,
                                                     boost::asio::any_io_executor blocking);

}  // namespace skein
