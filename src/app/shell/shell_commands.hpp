// The commands of `skein shell`, apart from the terminal: each takes its argument text and writes
// what it has to say to `out`. Errors are written too, never thrown.
#pragma once
#include <ostream>
#include <string>

#include "../host/host.hpp"

namespace skein::app {

// Runs one command line (`run approve {"title": "x"}`). False for `quit`.
bool run_shell_line(Host& host, const std::string& line, std::ostream& out);

// What the shell says when a run has an event worth interrupting for (a gate opened, a run ended);
// "" for the others. Call it off the registry's loop (it waits for an ended run's final state).
std::string notification(Host& host, const RunEvent& event);

}  // namespace skein::app
