#include "run_state.hpp"

#include <ctime>
#include <fstream>

namespace skein {

const char* to_string(ChainStatus status) {
  switch (status) {
    case ChainStatus::running:
      return "running";
    case ChainStatus::done:
      return "done";
    case ChainStatus::failed:
      return "failed";
    case ChainStatus::cancelled:
      return "cancelled";
  }
  return "?";
}

Json counts_json(const RunSummary& s) {
  Json nodes = Json::object();
  for (const auto& path : s.node_order) {
    const NodeCounts& c = s.nodes.at(path);
    nodes[path] = {{"in", c.in},
                   {"out", c.out},
                   {"errors", c.errors},
                   {"prompt_tokens", c.prompt_tokens},
                   {"generated_tokens", c.generated_tokens},
                   {"cached_prompt_tokens", c.cached_prompt_tokens},
                   {"engine_calls", c.engine_calls},
                   {"cached", c.cached},
                   {"rows", c.rows}};
  }
  return {{"counts", {{"records_in", s.records_in}, {"records_out", s.records_out}, {"errors", s.errors}}},
          {"nodes", nodes}};
}

Json chain_run_json(const Chain& chain, const RunOptions& options, const RunHeader& header, const RunSummary& s) {
  Json run{{"chain", chain.name},
           {"file", chain.file},
           {"file_sha256", chain.file_sha256},
           {"skein_version", SKEIN_VERSION},
           {"input", options.input_path},
           {"status", to_string(header.status)},
           {"started_at", header.started_at},
           {"ended_at", header.status == ChainStatus::running ? Json() : Json(utc_now())},
           {"resumed", s.resumed},
           {"batch_size", header.batch_size},
           {"max_lines_per_file", options.max_lines_per_file},
           {"engines", header.engines}};
  run.update(counts_json(s));
  if (!s.error.empty()) run["error"] = s.error;
  return run;
}

void add_counts(const Json& j, RunSummary& s) {
  const Json& counts = j.at("counts");
  s.records_in += counts.at("records_in").get<size_t>();
  s.records_out += counts.at("records_out").get<size_t>();
  s.errors += counts.at("errors").get<size_t>();
  for (const auto& [path, c] : j.at("nodes").items()) {
    NodeCounts& n = s.nodes[path];
    n.in += c.at("in").get<size_t>();
    n.out += c.at("out").get<size_t>();
    n.errors += c.at("errors").get<size_t>();
    n.prompt_tokens += c.at("prompt_tokens").get<long long>();
    n.generated_tokens += c.at("generated_tokens").get<long long>();
    n.cached_prompt_tokens += c.value("cached_prompt_tokens", 0LL);  // absent in older run.json files
    n.engine_calls += c.at("engine_calls").get<long long>();
    n.cached += c.at("cached").get<long long>();
    n.rows += c.at("rows").get<size_t>();
  }
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Json resume_point(size_t input_position, long long next_row, const RunSummary& s) {
  return {{"input_position", input_position},
          {"blank_lines_counted", true},  // input_position counts those before the first record
          {"next_row", next_row},
          {"files", nullptr},
          {"counts", counts_json(s)}};
}

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace skein
