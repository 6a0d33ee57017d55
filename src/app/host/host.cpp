#include "host.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "../commands.hpp"
#include "skein/cluster.hpp"
#include "skein/graph_lm.hpp"
#include "skein/sha256.hpp"
#include "skein/state_dir.hpp"

namespace skein::app {

namespace fs = std::filesystem;

namespace {

RegistryOptions registry_options(const HostOptions& o, const fs::path& state) {
  RegistryOptions r;
  r.history = o.history;
  r.retention = o.retention;
  r.max_store_bytes = o.max_store_bytes;
  if (o.store) {
    fs::create_directories(state);
    if (o.store_url.empty()) {
      r.store = (state / "runs.sqlite").string();
    } else {
      r.shared_store = open_postgres_run_store(o.store_url, o.retention, o.max_store_bytes);
      // Its own spool folder: run ids of another store (runs.sqlite, another database) may be the same.
      r.spool = (state / ("spool-pg-" + sha256_hex(o.store_url).substr(0, 16))).string();
    }
  }
  return r;
}

std::string stamp() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

Host::Host(HostOptions options) : options_(std::move(options)) {
  if (options_.state_dir.empty()) options_.state_dir = skein::state_dir().string();
  std::vector<HostFile> parsed;
  BrokerLimits limits;
  for (const auto& f : options_.files) {
    parsed.push_back(parse(f));
    limits.merge(parsed.back().graph ? parsed.back().graph->broker : parsed.back().chain->broker);
  }
  broker_ = make_broker(limits, options_.limits);
  broker_->add(local_engine_config());
  Sampling sampling;
  sampling.temperature = 0.7f;
  lm_ = std::make_unique<EngineLM>(*broker_, "local", sampling);
  for (auto& f : parsed) add(std::move(f));
  registry_ = std::make_unique<RunRegistry>(registry_options(options_, options_.state_dir));
}

Host::~Host() {
  registry_.reset();
  broker_->flush(true);
}

HostFile Host::parse(const std::string& path) const {
  HostFile f;
  f.path = path;
  if (is_graph_file(path)) {
    auto g = std::make_shared<Graph>(load_graph(path));
    f.name = g->name, f.kind = RunKind::graph, f.graph = g;
  } else {
    auto c = std::make_shared<Chain>(load_chain(path));
    f.name = c->name, f.kind = RunKind::chain, f.chain = c;
  }
  return f;
}

HostFile Host::load(const std::string& path) {
  HostFile f = parse(path);
  add(f);
  return f;
}

// Its engines declared (those with lazy: false started now), then listed.
void Host::add(HostFile f) {
  declare_engines(*broker_, f.graph ? f.graph->engines : f.chain->engines);
  MutexLock l(mu_);
  for (auto& known : files_)
    if (known.path == f.path) {
      known = std::move(f);
      return;
    }
  files_.push_back(std::move(f));
}

std::optional<HostFile> Host::find(const std::string& name) const {
  MutexLock l(mu_);
  for (const auto& f : files_)
    if (f.path == name || fs::path(f.path).filename() == name || f.name == name) return f;
  return std::nullopt;
}

std::vector<HostFile> Host::files() const {
  MutexLock l(mu_);
  return files_;
}

std::string Host::submit(const std::string& file, const Json& input, Verbosity verbosity) {
  const std::optional<HostFile> f = find(file);
  if (!f) throw NotFoundError("no file '" + file + "' is loaded (see GET /api/files)");
  if (f->graph) {
    if (!input.is_object()) throw InvalidArgumentError("a graph run's input is an object of its start node's fields");
    GraphJob job = graph_job("", f->name, verbosity);
    job.input = input;
    return registry_->submit(std::move(job));
  }
  ChainJob job = chain_job(*f, verbosity);
  job.options.input_path = chain_input_file(input);
  {
    MutexLock l(mu_);
    job.options.output_dir =
        (fs::path(options_.output_dir) / f->name / fmt::format("{}-{}", stamp(), ++inputs_)).string();
  }
  return registry_->submit(std::move(job));
}

ChainJob Host::chain_job(const HostFile& file, Verbosity verbosity) {
  ChainJob job;
  job.chain = file.chain;
  job.verbosity = verbosity;
  job.options.cache_file = default_response_cache();
  job.options.broker = broker_.get();
  return job;
}

// A job of graph `graph` (a loaded file's), for run `run_id` (named in the error when it is not loaded).
GraphJob Host::graph_job(const std::string& run_id, const std::string& graph, Verbosity verbosity) {
  const std::optional<HostFile> f = find(graph);
  if (!f || !f->graph)
    throw FailedPreconditionError("graph '" + graph + "'" + (run_id.empty() ? "" : " of run " + run_id) +
                                  " is not loaded (load its file first)");
  GraphJob job;
  job.graph = f->graph;
  job.lm = lm_.get();
  job.verbosity = verbosity;
  return job;
}

std::string Host::resume(const std::string& id) {
  const auto run = registry_->get(id);
  if (!run) throw NotFoundError("no run '" + id + "'");
  if (run->kind == RunKind::graph) return registry_->resume(id, graph_job(id, run->name, Verbosity::normal));
  const std::optional<HostFile> f = find(run->name);
  if (!f || !f->chain)
    throw FailedPreconditionError("chain '" + run->name + "' of run " + id + " is not loaded (load its file first)");
  return registry_->resume(id, chain_job(*f, Verbosity::normal));
}

std::string Host::fork(const std::string& id, size_t at, const Json& fields) {
  const auto run = registry_->get(id);
  if (!run) throw NotFoundError("no run '" + id + "'");
  if (run->kind != RunKind::graph) throw InvalidArgumentError(id + " is a chain run: only graph runs fork");
  return registry_->fork(id, at, fields, graph_job(id, run->name, Verbosity::normal));
}

// A chain's input: the path of a JSONL file as given, or records written to one under the state dir.
std::string Host::chain_input_file(const Json& input) {
  if (input.is_string()) {
    const std::string path = input.get<std::string>();
    if (!fs::exists(path)) throw InvalidArgumentError("no input file '" + path + "'");
    return path;
  }
  if (!input.is_array())
    throw InvalidArgumentError("a chain run's input is an array of records or the path of a JSONL file");
  const fs::path dir = fs::path(options_.state_dir) / "inputs";
  fs::create_directories(dir);
  fs::path path;
  {
    MutexLock l(mu_);
    path = dir / fmt::format("{}-{}-{}.jsonl", stamp(), ::getpid(), ++inputs_);
  }
  std::ofstream out(path);
  for (const auto& record : input) out << record.dump() << "\n";
  if (!out.flush()) throw Error("cannot write " + path.string());
  return path.string();
}

void Host::flush() { broker_->flush(true); }

std::string Host::summary_line(const RunSnapshot& r) {
  const int64_t end = r.finished_ns ? r.finished_ns : now_ns();
  const double ms = r.started_ns ? double(end - r.started_ns) / 1e6 : 0;
  std::string what = fmt::format("{} nodes", r.trace.size());
  if (r.kind == RunKind::chain) {
    const Json total = r.progress.is_object() ? r.progress.value("rows_total", Json()) : Json();
    const bool about = r.progress.is_object() && r.progress.value("rows_total_estimated", false);
    what = fmt::format("{}/{}{} records", r.progress.is_object() ? r.progress.value("records_in", 0) : 0,
                       about ? "~" : "", total.is_number() ? total.dump() : "?");
  }
  std::string line = fmt::format("{:<6} {:<9} {:<14} {:<16} {:>9.0f} ms {:>6} tok", r.id, to_string(r.state), r.name,
                                 what, ms, r.tokens.generated);
  if (!r.node.empty() && !is_finished(r.state)) line += "  at " + r.node;
  if (!r.error.empty()) line += "  " + r.error;
  return line;
}

}  // namespace skein::app
