// `skein run CHAIN -i in.jsonl -o out/`: progress on stderr, a summary at the end.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "skein/chain.hpp"

namespace skein::app {
namespace {

bool uses_fixture_model(const Chain& chain) {
  for (const auto& node : chain.steps) {
    const Step* step = std::get_if<Step>(&node);
    if (step && step->engine == "local" && !chain.engines.count("local") && !std::getenv("SKEIN_LOCAL_MODEL"))
      return true;
  }
  return false;
}

void print_summary(const Chain& chain, const RunSummary& s) {
  std::cerr << fmt::format("\n{:<20} {:>8} {:>8} {:>8} {:>12} {:>12}\n", "node", "in", "out", "errors", "tokens in",
                           "tokens out");
  for (const auto& node : chain.steps) {  // in chain order
    const std::string& id = node_id(node);
    const NodeCounts& c = s.nodes.at(id);
    std::cerr << fmt::format("{:<20} {:>8} {:>8} {:>8} {:>12} {:>12}\n", id, c.in, c.out, c.errors, c.prompt_tokens,
                             c.generated_tokens);
  }
  for (const auto& [name, secs] : s.engine_load_seconds)
    std::cerr << fmt::format("engine {:<13} loaded in {:.2f} s\n", name, secs);
  std::cerr << fmt::format("records: {} in, {} out, {} errors; {:.2f} s wall\n", s.records_in, s.records_out, s.errors,
                           s.wall_seconds);
}

}  // namespace

int run_command(const RunArgs& args) {
  Chain chain;
  try {
    chain = load_chain(args.file);
  } catch (const Error& e) {
    std::cerr << "skein: " << e.what() << "\n";
    return 2;
  }
  RunOptions options;
  options.input_path = args.input;
  options.output_dir = args.output.empty() ? "out/" + chain.name : args.output;
  options.batch_size = args.batch_size;
  options.on_warning = [](const std::string& w) { std::cerr << "warning: " << w << "\n"; };
  if (!args.quiet)
    options.on_progress = [](const ChainProgress& p) {
      std::cerr << fmt::format("[{}] {} records ({} errors)\n", p.node, p.done, p.errors);
    };
  if (uses_fixture_model(chain) && !args.quiet)
    std::cerr << "note: engine `local` runs the fixture model made by setup: random weights, so its outputs are "
                 "schema-valid but meaningless. Point it at a real GGUF with SKEIN_LOCAL_MODEL=/path/model.gguf.\n";
  try {
    RunSummary s = run_chain(chain, options);
    if (!args.quiet) print_summary(chain, s);
    std::cout << "outputs: " << s.output_dir << "\n";
    return s.errors ? 1 : 0;
  } catch (const ConfigError& e) {
    std::cerr << "skein: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "skein: run failed: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace skein::app
