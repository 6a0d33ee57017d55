// `skein run CHAIN -i in.jsonl -o out/`: progress on stderr, a summary at the end.
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "run_view.hpp"
#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "skein/graph.hpp"

namespace skein::app {
namespace {

RunOptions options_for(const RunArgs& args, const Chain& chain, RunView& view) {
  RunOptions options;
  options.input_path = args.input;
  options.output_dir = args.output.empty() ? "out/" + chain.name : args.output;
  options.batch_size = args.batch_size;
  options.max_lines_per_file = args.max_lines_per_file;
  options.resume = args.resume;
  options.strict = args.strict;
  if (!args.no_cache) options.cache_file = default_response_cache();
  options.on_warning = [&view](const std::string& w) { view.warning(w); };
  options.on_progress = [&view](const RunProgress& p) { view.progress(p); };
  return options;
}

}  // namespace

void note_fixture_model(const Chain& chain, RunView& view) {
  for (const auto& node : chain.steps) {
    const Step* step = std::get_if<Step>(&node);
    if (step && step->engine == "local" && !chain.engines.count("local") && !std::getenv("SKEIN_LOCAL_MODEL")) {
      view.note(
          "engine `local` runs the fixture model made by setup: random weights, so its outputs are "
          "schema-valid but meaningless. Point it at a real GGUF with SKEIN_LOCAL_MODEL=/path/model.gguf.");
      return;
    }
  }
}

int run_command(const RunArgs& args) {
  if (is_graph_file(args.file)) return graph_run_command(args);
  if (!args.cluster.empty()) return cluster_run_command(args);
  RunView view(choose_view(args.quiet, args.json_logs));
  Chain chain;
  try {
    chain = load_chain(args.file);
  } catch (const Error& e) {
    view.error(e.what());
    return 2;
  }
  RunOptions options = options_for(args, chain, view);
  const std::unique_ptr<Broker> broker = make_broker(chain.broker, args.limits);
  declare_engines(*broker, chain.engines);  // lazy: false engines start now
  options.broker = broker.get();
  struct Release {  // a chain run ends by releasing its engines
    Broker& b;
    ~Release() {
      b.flush(true);
      b.settle();
    }
  } release{*broker};
  note_fixture_model(chain, view);
  try {
    RunSummary s = run_chain(chain, options);
    view.summary(s);
    std::cout << "outputs: " << s.output_dir << "\n";
    return s.errors ? 1 : 0;
  } catch (const ConfigError& e) {
    view.error(e.what());
    return 2;
  } catch (const std::exception& e) {
    view.error(std::string("run failed: ") + e.what() + " (continue it with --resume)");
    return 1;
  }
}

}  // namespace skein::app
