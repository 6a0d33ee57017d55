// `skein engines`, `skein warmup`, `skein kill`: the engine layer from the command line.
#include <fmt/format.h>

#include <iostream>

#include "commands.hpp"
#include "skein/broker.hpp"
#include "skein/managed_servers.hpp"

namespace skein::app {
namespace {

std::map<std::string, EngineConfig> configured(const std::string& file) {
  std::map<std::string, EngineConfig> out{{"local", local_engine_config()}};
  if (!file.empty())
    for (const auto& [name, config] : load_engines_file(file)) out[name] = config;
  return out;
}

}  // namespace

int engines_command(const std::string& file) {
  try {
    const auto engines = configured(file);
    const auto servers = recorded_servers();
    std::cout << fmt::format("{:<16} {:<13} {:<10} {}\n", "engine", "backend", "state", "model");
    for (const auto& [name, c] : engines) {
      std::string state = "stopped";
      for (const auto& s : servers)
        if (s.engine == name) state = fmt::format("running (pid {}, port {})", s.pid, s.port);
      std::cout << fmt::format("{:<16} {:<13} {:<10} {}\n", name, c.backend, state, c.model);
    }
    for (const auto& s : servers)
      if (!engines.count(s.engine))
        std::cout << fmt::format("{:<16} {:<13} running (pid {}, port {}), not in this file\n", s.engine, s.backend,
                                 s.pid, s.port);
    return 0;
  } catch (const Error& e) {
    std::cerr << "skein: " << e.what() << "\n";
    return 2;
  }
}

int warmup_command(const std::string& file, const std::vector<std::string>& names) {
  try {
    const auto engines = configured(file);
    Broker broker;
    for (const auto& [name, c] : engines) broker.add(c);
    std::vector<std::string> todo = names;
    if (todo.empty())
      for (const auto& [name, c] : engines) todo.push_back(name);
    int failures = 0;
    for (const auto& name : todo) {
      try {
        Lease lease = broker.acquire(name);
        for (const auto& s : broker.status())
          if (s.name == name) std::cout << fmt::format("{:<16} started in {:.2f} s\n", name, s.load_seconds);
      } catch (const Error& e) {
        ++failures;
        std::cerr << "skein: " << e.what() << "\n";
      }
    }
    return failures ? 1 : 0;
  } catch (const Error& e) {
    std::cerr << "skein: " << e.what() << "\n";
    return 2;
  }
}

int kill_command(const std::string& engine, bool all) {
  int stopped = 0, matched = 0;
  for (const auto& r : recorded_servers()) {
    if (!all && r.engine != engine) continue;
    ++matched;
    if (stop_recorded_server(r)) {
      ++stopped;
      std::cout << fmt::format("stopped {} (pid {}, port {})\n", r.engine, r.pid, r.port);
    }
  }
  if (!matched)
    std::cout << (all ? "no managed servers recorded\n" : "no managed server recorded for " + engine + "\n");
  return 0;
}

}  // namespace skein::app
