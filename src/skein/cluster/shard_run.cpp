#include "shard_run.hpp"

#include <fstream>
#include <limits>
#include <sstream>

#include "chain/run_state.hpp"
#include "chain/run_writer.hpp"

namespace skein::cluster {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A node's NNN.jsonl files, in order, as one text.
std::string node_lines(const fs::path& dir) {
  std::vector<fs::path> files;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".jsonl") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string out;
  for (const auto& f : files) out += read_file(f);
  return out;
}

// Removes the scratch folder however the shard ends.
struct Scratch {
  fs::path dir;
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

ShardResult run_shard(const Chain& chain, const RunOptions& options, const Claim& claim, const std::string& input,
                      const fs::path& scratch) {
  Scratch guard{scratch};
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  {
    std::ofstream out(scratch / "input.jsonl", std::ios::binary);
    out << input << '\n';
    if (!out.flush()) throw Error("cannot write " + (scratch / "input.jsonl").string());
  }
  RunOptions o = options;
  o.input_path = (scratch / "input.jsonl").string();
  o.output_dir = (scratch / "out").string();
  o.max_lines_per_file = std::numeric_limits<size_t>::max();
  o.first_line = size_t(claim.first_line);
  o.first_row = claim.first_row;
  o.resume = false;
  o.on_progress = nullptr;
  const RunSummary summary = run_chain(chain, o);
  if (summary.status == ChainStatus::cancelled)
    throw CancelledError("shard " + std::to_string(claim.shard) + " stopped");

  const fs::path out = scratch / "out";
  ShardResult result;
  std::vector<std::string> nodes = summary.node_order;
  nodes.push_back(kFlattenedFile);
  for (const auto& node : nodes)
    if (std::string lines = node_lines(out / node); !lines.empty()) result.outputs.emplace_back(node, std::move(lines));
  result.errors = read_file(out / "errors.jsonl");
  result.counts = counts_json(summary);
  result.counts["node_order"] = summary.node_order;
  result.counts["engines"] = Json::parse(std::ifstream(out / "run.json")).value("engines", Json::object());
  return result;
}

}  // namespace skein::cluster
