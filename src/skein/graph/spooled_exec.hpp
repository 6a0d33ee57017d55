// An `exec` dep of a durable graph run (one with a ledger spool): its input and output are files in
// the run's spool folder (<dep>.in, <dep>.out, and <dep>.pid naming its process group), and the
// command is spawned to outlive a killed host, holding a lock on its output file while it runs. A
// resumed run that finds the output file waits, on the blocking executor, until the command that
// writes it is gone and takes what it printed: a dep started before a crash runs once. Only an empty
// output file (the host died before the command started, or it printed nothing) runs it again.
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
