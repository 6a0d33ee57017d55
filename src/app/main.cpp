// skein: the command line.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Skein: typed LLM pipelines and agent graphs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", SKEIN_APP_VERSION);

  skein::app::RunArgs run;
  CLI::App* run_cmd = app.add_subcommand("run", "Run a chain over a JSONL dataset");
  run_cmd->add_option("file", run.file, "Chain file (YAML or JSON)")->required()->check(CLI::ExistingFile);
  run_cmd->add_option("-i,--input", run.input, "Input records, JSONL ('-' for stdin)")->required();
  run_cmd->add_option("-o,--output", run.output, "Output folder (default: out/<chain name>)");
  run_cmd->add_option("--batch-size", run.batch_size, "Records per batch (overrides the file)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_flag("-q,--quiet", run.quiet, "Only errors and the output folder");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (run_cmd->parsed()) return skein::app::run_command(run);
  return 0;
}
