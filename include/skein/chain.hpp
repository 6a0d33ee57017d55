// Chains: typed batch pipelines over datasets (SPEC §3). One representation, built by the YAML
// loader (load_chain) or directly through this API.
//
// Each input record starts a history {chain_input: <record>, row_id: <n>}; every Step adds
// `<step id>: <its output>`. Templates see the history.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "skein/engine.hpp"
#include "skein/engine_config.hpp"
#include "skein/enum_names.hpp"
#include "skein/expression.hpp"
#include "skein/response_store.hpp"
#include "skein/schema.hpp"
#include "skein/template.hpp"

namespace skein {

// Where each key of a node was declared in its file ("engine", "user", "set.total", …); empty for
// a node built in C++. Checks report a key's problem at its line, else at the node's.
using KeyLocations = std::map<std::string, Location>;

struct Step {
  std::string id;
  std::string engine = "local";
  TypePtr output;                    // required
  std::shared_ptr<Template> system;  // optional
  std::shared_ptr<Template> user;    // required
  Sampling sampling;
  int retries = 2;                         // extra attempts after an invalid output, each told why
  std::optional<std::string> instruction;  // replaces the schema instruction in the system prompt
  Location where;
  KeyLocations keys;
};

// A native Apply function: one history in, 0..n outputs out. Each output becomes
// `<apply id>: <output>` in its own copy of the history (fan-out ids: `<id>.<k>`).
using ApplyFunction = std::function<std::vector<Json>(const Json& history)>;

// What an Apply does: the built-ins filter (`where`), map (`set`: name -> expression), explode
// (`field`: an expression giving a list; one record per item) and exec (`command`: one JSON history
// per line in, one JSON array of records per line out), or a native function registered in
// Chain::functions under Apply::fn.
enum class ApplyKind { filter, map, explode, exec, native };
const char* to_string(ApplyKind kind);  // filter, map, explode, exec, native
template <>
struct EnumCount<ApplyKind> {
  static constexpr int value = 5;
};

// Apply: record -> 0..n records (see ApplyKind). In a chain file, `fn:` names a built-in or else a
// native function.
struct Apply {
  std::string id;
  ApplyKind kind = ApplyKind::native;
  std::string fn;                     // native: the registered function's name (not a built-in's); empty for a built-in
  std::shared_ptr<Expression> where;  // filter
  std::vector<std::pair<std::string, std::shared_ptr<Expression>>> set;  // map
  std::shared_ptr<Expression> field;                                     // explode
  std::vector<std::string> command;  // exec: run in the chain file's folder, JSON lines in and out
  std::optional<double> timeout;     // exec: seconds one record's reply may take; the group is killed after
  Location at;
  KeyLocations keys;
};

struct Branch;
struct Parallel;
using Node = std::variant<Step, Apply, Branch, Parallel>;

// Branch: a named sub-chain run on copies of the records; its outputs go under `<branch>/`.
// `join: alias` puts the branch's last output into each record's history as `alias`: a list when
// the branch can fan out (explode, exec, a native function), null when it dropped the record.
struct Branch {
  std::string id;
  std::optional<std::string> join;
  std::vector<Node> steps;
  Location at;
  KeyLocations keys;
};

// A parallel group: branches run concurrently (each on its own engines), anywhere in a chain.
struct Parallel {
  std::vector<Branch> branches;
  Location at;
};

// What `fn:` says of the Apply: its built-in's name, or its native function's.
std::string fn_name(const Apply& apply);

// A node's name in summaries and progress ("(fr|es)" for a parallel group).
std::string node_id(const Node& node);
const Location& node_location(const Node& node);
// The history keys a node adds: a Step's or Apply's id, the join aliases of branches.
std::vector<std::string> history_keys(const Node& node);

struct Chain {
  std::string name;
  std::string file;                             // the file it was loaded from ("" when built in C++)
  std::string file_sha256;                      // of the file's bytes
  std::map<std::string, EngineConfig> engines;  // declared engines; `local` is always available
  BrokerLimits broker;                          // `broker:` limits in the file
  TypeSet types;
  TypePtr input;  // optional type of each input record
  int batch_size = 16;
  std::vector<Node> steps;                         // in order
  std::map<std::string, ApplyFunction> functions;  // native Apply functions, by name
};

// The chain as data, graph.json of its run folders: {"chain", "nodes": [{id, kind, …, location}],
// "edges": [[from, to]…]} from "input" to "output" (branches and parallel groups included).
Json chain_json(const Chain& chain);

// What chain checks found that does not stop a run.
using ChainWarning = ConfigWarning;

// Parses a chain file (YAML or JSON) and makes check_chain's checks (functions are not required:
// they are registered after loading). Throws ConfigError with file:line for any problem, including
// unknown keys, before anything runs. Warnings go to `warnings` when given.
Chain load_chain(const std::string& path, std::vector<ChainWarning>* warnings = nullptr);
Chain parse_chain(const std::string& text, const std::string& file, std::vector<ChainWarning>* warnings = nullptr);

// The checks load_chain makes, for chains built in C++ as for loaded ones; run_chain makes them
// first, with require_functions. Each node in order, with the history as it stands there:
// - ids: identifiers, not reserved (chain_input, row_id, input, flattened, errors), unique across
//   the chain, branches included; a Step has an output type, a user template, retries ≥ 0, an
//   engine that is `local` or declared in `engines` (run_chain: or held by RunOptions::broker), and
//   an output type llama.cpp can constrain;
// - templates and expressions read only names the history has there, and only fields their types
//   declare (chain_input with a declared input type, earlier Steps' outputs);
// - an Apply has a fn, the keys its built-in needs and no others (a positive exec timeout); a native
//   function's name is not a built-in's, and is in chain.functions when require_functions is set;
// - branches and parallel groups are not empty; the batch size is positive.
// Throws ConfigError at the offending key's file:line (the node's when its key is not known, no
// file when built in C++); the message is the same either way. Returns the warnings: a Step whose
// prompt reads nothing from the history, a filter that reads nothing from it.
std::vector<ChainWarning> check_chain(const Chain& chain, bool require_functions = true);

struct NodeCounts {
  size_t in = 0, out = 0, errors = 0;
  long long prompt_tokens = 0, generated_tokens = 0;
  long long cached_prompt_tokens = 0;      // of prompt_tokens: reused from an engine's prefix cache
  long long engine_calls = 0, cached = 0;  // Step attempts answered by the engine / the response cache
  size_t rows = 0;                         // input records whose batch has passed this node
  int64_t start_ns = 0, end_ns = 0;        // now_ns() when its first batch came in and its last went out
  int64_t queue_ns = 0, generate_ns = 0;   // Step engine calls, summed: waiting for a slot, generating
};

// A chain run's status: running in run.json while it runs, then done, failed or cancelled.
enum class ChainStatus { running, done, failed, cancelled };
const char* to_string(ChainStatus status);  // running, done, failed, cancelled
template <>
struct EnumCount<ChainStatus> {
  static constexpr int value = 4;
};

struct RunSummary {
  ChainStatus status = ChainStatus::running;  // done or cancelled when run_chain returns (it throws on failure)
  std::string error;                          // when failed
  size_t records_in = 0, records_out = 0, errors = 0;
  std::vector<std::string> node_order;  // node paths in chain order ("fr/translate" inside branches)
  std::map<std::string, NodeCounts> nodes;
  std::map<std::string, double> engine_load_seconds;
  double wall_seconds = 0;
  std::string output_dir;
  bool resumed = false;  // continued an interrupted run
};

struct RunProgress {
  const RunSummary& so_far;
  // The input's records, read once: exact for a JSON array and once the input was read to its end;
  // before that, for a JSONL file, an estimate from the bytes read so far (`rows_total_estimated`).
  std::optional<size_t> rows_total;
  bool rows_total_estimated = false;
  double elapsed_seconds = 0;
  bool final = false;  // the last call, when the run has ended
};

// Stops a chain run from another thread (a host cancelling it): in-flight engine calls are
// cancelled, and the run ends with status "cancelled" at its last checkpoint, so --resume
// continues it. Thread-safe.
class ChainStop {
 public:
  void request();
  bool requested() const;
  // For run_chain: `on_request` is called (at once when already requested) until detach().
  void attach(std::function<void()> on_request);
  void detach();

 private:
  mutable std::mutex mu_;
  bool requested_ = false;
  std::function<void()> on_request_;
};

struct RunOptions {
  std::string input_path;  // JSONL or a JSON array of objects; "-" = stdin
  std::string output_dir;
  std::optional<int> batch_size;       // overrides the chain's
  size_t max_lines_per_file = 100000;  // <node>/NNN.jsonl roll over after this many lines
  // Continue the interrupted (or failed) run in output_dir from its last checkpoint; a finished run
  // is left as it is, and a folder without a checkpoint starts afresh.
  bool resume = false;
  // Refuse the input when any record is malformed or fails the input type, before anything runs
  // (stdin: the run fails at the first such record). Default: such records become error records.
  bool strict = false;
  std::string cache_file;  // the response cache (default_response_cache() in the CLI); "" = none
  // Where the response cache lives instead of cache_file (a cluster's database); shared, may be null.
  std::shared_ptr<ResponseStore> response_store;
  std::function<void(const RunProgress&)> on_progress;  // called on the run's thread
  std::function<void(const std::string&)> on_warning;
  // A long-lived host's broker (engines then follow their keep_alive); unset: the run uses its own
  // and releases every engine when it ends.
  class Broker* broker = nullptr;
  ChainStop* stop = nullptr;  // optional
  // Where native Apply functions run (never on the run's loop); unset: a small pool of the run's own.
  boost::asio::any_io_executor blocking;
  // The input is a piece of a larger one (a cluster shard, SPEC §9): its first line is line
  // `first_line` of the whole and its first record gets row id `first_row`, so records, error
  // records and their messages read as in a run over the whole input. JSONL only.
  size_t first_line = 1;
  long long first_row = 0;
};

// $SKEIN_CACHE, else $XDG_CACHE_HOME/skein, else ~/.cache/skein; then /responses.sqlite.
std::string default_response_cache();

// Runs the chain over the input and writes the run folder (run.json, graph.json, <node>/NNN.jsonl,
// flattened/NNN.jsonl, errors.jsonl) into options.output_dir, checkpointing as batches complete. First
// makes check_chain's checks (functions required): a ConfigError then, before the folder is touched;
// their warnings go to options.on_warning. Bad records become error records; the run goes on.
// Throws ConfigError / EngineError for problems that stop the whole run once it has started (the
// output folder then records a failed run).
RunSummary run_chain(const Chain& chain, const RunOptions& options);

// What run_chain will refuse about its output folder, said before any work (a cluster run writes
// its folder once every shard is done): throws Error unless `dir` can be made and written and
// holds only a run's files. Makes the folder when missing.
void check_run_folder(const std::string& dir);

}  // namespace skein
