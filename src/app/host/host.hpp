// What a long-lived host (`skein shell`, `skein serve`) keeps: the files it may run, one broker for
// their engines (leased per model call, so idle engines follow their keep_alive), and the run registry, its store under
// the state directory so runs outlive the process and one killed is found CRASHED on the next start.
//
// Thread-safe: every member may be called from any thread.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/broker.hpp"
#include "skein/mutex.hpp"
#include "skein/run_registry.hpp"

namespace skein::app {

struct HostOptions {
  std::vector<std::string> files;  // graph and chain files, loaded and checked at start
  std::string state_dir;           // default: skein::state_dir(); the store is <state_dir>/runs.sqlite
  std::string output_dir = "out";  // chain runs write <output_dir>/<chain>/<run id>
  size_t history = 20;             // finished runs kept in memory
  bool store = true;
  std::string store_url;         // a postgresql:// URL: the store in PostgreSQL, shared with other machines
  size_t retention = 10000;      // finished runs the store keeps
  uint64_t max_store_bytes = 0;  // 0: no bound
  BrokerLimits limits;           // the command line's: over the `broker:` limits of the files loaded at start
};

// A file the host has loaded: a graph or a chain.
struct HostFile {
  std::string path, name;
  RunKind kind = RunKind::graph;  // what a run of it is
  std::shared_ptr<const Graph> graph;
  std::shared_ptr<const Chain> chain;
};

class Host {
 public:
  // Loads and checks every file; throws Error (file:line) for the first bad one.
  explicit Host(HostOptions options);
  ~Host();  // cancels active runs, then releases every engine

  // Loads (or reloads) a file; throws Error naming file:line. Returns it as loaded.
  HostFile load(const std::string& path);
  // A loaded file by its path as given, its file name, or its graph or chain name (a copy: a
  // reload replaces the host's own); none if none.
  std::optional<HostFile> find(const std::string& name) const;
  std::vector<HostFile> files() const;

  // Submits a run of a loaded file. A graph takes its start node's fields (an object); a chain its
  // input records: an array of objects, or the path of a JSONL file. Throws Error when the file is
  // not loaded or the input is not of that shape.
  std::string submit(const std::string& file, const Json& input, Verbosity verbosity = Verbosity::normal);

  // Resumes a CRASHED, CANCELLED or FAILED run (its file must be loaded): a chain run as a new run
  // over its folder, a graph run under its own id from its checkpoint. Returns the run's id; throws
  // Error saying why not.
  std::string resume(const std::string& id);
  // Forks graph run `id` at node `at` with `fields` replacing some of that node's values (see
  // RunRegistry::fork); its graph file must be loaded. Returns the new run's id.
  std::string fork(const std::string& id, size_t at, const Json& fields);

  RunRegistry& registry() { return *registry_; }
  std::vector<EngineStatus> engines() const { return broker_->status(); }
  Broker& broker() { return *broker_; }
  // Releases every engine not in use now, and each one in use as soon as its call ends.
  void flush();

  // The tokens and the time of a run, in a line: "g3  DONE  outfit  4 nodes  812 ms  37 tok".
  static std::string summary_line(const RunSnapshot& run);

 private:
  std::string chain_input_file(const Json& input);
  ChainJob chain_job(const HostFile& file, Verbosity verbosity);
  GraphJob graph_job(const std::string& run_id, const std::string& graph, Verbosity verbosity);

  HostFile parse(const std::string& path) const;
  void add(HostFile f);

  HostOptions options_;
  std::unique_ptr<Broker> broker_;  // its limits: the files' loaded at start, then the command line's
  std::unique_ptr<GraphLM> lm_;
  mutable Mutex mu_;
  std::vector<HostFile> files_ SKEIN_GUARDED_BY(mu_);
  size_t inputs_ SKEIN_GUARDED_BY(mu_) = 0;  // chain inputs and output folders made (their names)
  std::unique_ptr<RunRegistry> registry_;    // last: destroyed first, ending runs before their engines
};

}  // namespace skein::app
