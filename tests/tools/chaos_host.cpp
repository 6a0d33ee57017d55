// A host for the durable-run tests: a run registry with a store in STATE, the chaos graph and the
// scripted ChaosLM (logging to LOG as life LIFE).
//   chaos_host STATE GRAPH LOG LIFE RUNS answer   first life: submits RUNS runs ({"job": 1..RUNS});
//                                                later: resumes every CRASHED run. Answers each gate
//                                                (job even: true) after a moment, says "ready" once
//                                                its runs are in the store, "all done" when every run
//                                                is DONE, and exits.
//   chaos_host STATE GRAPH LOG LIFE RUNS park    submits, says "waiting <gate id>" at the first gate
//                                                and waits to be killed.
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>

#include "chaos_lm.hpp"
#include "skein/run_registry.hpp"

using namespace skein;

int main(int argc, char** argv) {
  if (argc != 7) return 2;
  const std::string state = argv[1], mode = argv[6];
  const int runs = std::stoi(argv[5]);
  const bool first = !std::filesystem::exists(std::filesystem::path(state) / "runs.sqlite");
  RegistryOptions o;
  o.store = (std::filesystem::path(state) / "runs.sqlite").string();
  auto graph = std::make_shared<Graph>(load_graph(argv[2]));
  test::ChaosLM lm(argv[3], argv[4]);
  boost::asio::io_context answers;  // gates answered after a moment, off the registry's loop
  auto guard = boost::asio::make_work_guard(answers);
  std::thread answerer([&] { answers.run(); });
  RunRegistry registry(o);
  std::mt19937 rng(std::random_device{}());
  if (mode == "answer")
    registry.subscribe([&](const RunEvent& e) {
      if (e.kind != RunEventKind::gate_opened) return;
      auto t = std::make_shared<boost::asio::steady_timer>(answers, std::chrono::milliseconds(rng() % 100));
      t->async_wait([&, t, gate = e.data["gate"].get<std::string>(), run = e.run](auto) {
        try {
          registry.answer(gate, registry.get(run)->input.at("job").get<int>() % 2 == 0);
        } catch (const std::exception&) {  // closed meanwhile (the run was cancelled)
        }
      });
    });
  else
    registry.subscribe([&](const RunEvent& e) {
      if (e.kind == RunEventKind::gate_opened)
        std::cout << "waiting " << e.data["gate"].get<std::string>() << std::endl;
    });
  GraphJob job;
  job.graph = graph;
  job.lm = &lm;
  if (first)
    for (int i = 1; i <= runs; ++i) {
      job.input = {{"job", i}};
      registry.submit(job);
    }
  else {  // CRASHED now, or by a life killed before it could resume them: resumed at once
    std::vector<std::string> crashed;
    for (int i = 1; i <= runs; ++i)
      if (const auto run = registry.get("g" + std::to_string(i)); run && run->state == RunState::crashed)
        crashed.push_back(run->id);
    for (const auto& [id, why] : registry.resume_all(crashed, [&](const RunSnapshot&) { return job; })) {
      std::cout << id << " was not resumed: " << why << std::endl;
      return 1;
    }
  }
  registry.flush_store();
  std::cout << "ready" << std::endl;
  if (mode != "answer")
    for (;;) ::pause();
  const auto done = [](const RunSnapshot& s) { return s.state == RunState::done; };
  int status = 0;
  for (int i = 1; i <= runs && !status; ++i) {
    const std::string id = "g" + std::to_string(i);
    const auto run = registry.get(id);  // in memory, or DONE in an earlier life
    if (!run || (!done(*run) && !registry.wait_until(id, done, std::chrono::seconds(120)))) {
      std::cout << id << " is " << (run ? to_string(registry.get(id)->state) : "missing") << std::endl;
      status = 1;
    }
  }
  registry.flush_store();
  if (!status) std::cout << "all done" << std::endl;
  guard.reset();
  answers.stop();
  answerer.join();
  return status;
}
