// The chain file (SPEC §8): YAML (or JSON) to the one Chain representation. Every problem is a
// ConfigError at the file:line of the offending key, raised before anything runs.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apply_file.hpp"
#include "engine/engine_file.hpp"
#include "node_checks.hpp"
#include "schema/types_file.hpp"
#include "skein/chain.hpp"
#include "skein/sha256.hpp"
#include "util/yaml_json.hpp"

namespace skein {
namespace {

namespace fs = std::filesystem;

class ChainLoader {
 public:
  ChainLoader(std::string file, std::string dir) : file_(std::move(file)), dir_(std::move(dir)) {}

  // The chain as the file says it; check_chain then says whether it makes sense.

  Chain load(const YAML::Node& root) {
    if (!root.IsMap()) throw ConfigError({file_, 1}, "a chain file must be a mapping with a `chain:` key");
    refuse_unknown_keys(file_, root, {"chain", "engines", "broker", "types", "input", "batch_size", "steps"},
                        "the chain file");
    if (!root["chain"]) throw ConfigError({file_, 1}, "missing `chain: <name>` (a graph file has `graph:` instead)");
    Chain c;
    c.name = scalar_as<std::string>(file_, root["chain"], "`chain`");
    if (root["engines"]) c.engines = parse_engines(root["engines"], file_, dir_);
    if (root["broker"]) c.broker = parse_broker_limits(root["broker"], file_);
    if (root["types"]) load_types(file_, root["types"], c.types);
    if (root["input"]) c.input = type_ref(root["input"], c, "input");
    if (root["batch_size"]) c.batch_size = positive_int(file_, root["batch_size"], "`batch_size`");
    if (!root["steps"] || !root["steps"].IsSequence() || root["steps"].size() == 0)
      throw ConfigError(where(file_, root), "`steps` must be a non-empty list");
    for (const auto& node : root["steps"]) c.steps.push_back(load_node(node, c));
    return c;
  }

 private:
  // A type given by name (`Verdict`) or inline (a schema mapping).
  TypePtr type_ref(const YAML::Node& n, const Chain& c, const std::string& owner) {
    if (n.IsScalar()) return c.types.get(n.Scalar(), where(file_, n));
    LineMap lines;
    Json schema = yaml_to_json(n, &lines);
    return c.types.make(owner, std::move(schema), where(file_, n), lines);
  }

  Sampling load_sampling(const YAML::Node& n) {
    refuse_unknown_keys(file_, n, {"temperature", "top_p", "top_k", "max_tokens", "stop", "seed"}, "`sampling`");
    Sampling s;
    if (n["temperature"]) s.temperature = scalar_as<float>(file_, n["temperature"], "`temperature`");
    if (n["top_p"]) s.top_p = scalar_as<float>(file_, n["top_p"], "`top_p`");
    if (n["top_k"]) s.top_k = scalar_as<int>(file_, n["top_k"], "`top_k`");
    if (n["max_tokens"]) s.max_tokens = positive_int(file_, n["max_tokens"], "`max_tokens`");
    if (n["seed"]) s.seed = scalar_as<uint32_t>(file_, n["seed"], "`seed`");
    if (n["stop"]) {
      if (n["stop"].IsScalar())
        s.stop = {n["stop"].Scalar()};
      else
        s.stop = scalar_list(file_, n["stop"], "`stop`");
    }
    return s;
  }

  Node load_node(const YAML::Node& n, const Chain& c) {
    if (!n.IsMap()) throw ConfigError(where(file_, n), "each node must be a mapping");
    if (n["apply"]) return load_apply(n, file_);
    if (n["branch"]) return load_branch(n, c);
    if (n["parallel"]) return load_parallel(n, c);
    return load_step(n, c);
  }

  Branch load_branch(const YAML::Node& n, const Chain& c) {
    refuse_unknown_keys(file_, n, {"branch", "join", "steps"}, "branch");
    Branch b;
    b.at = where(file_, n["branch"]);
    b.id = scalar_as<std::string>(file_, n["branch"], "`branch`");
    if (n["join"]) {
      b.join = scalar_as<std::string>(file_, n["join"], "`join`");
      b.keys["join"] = where(file_, n["join"]);
    }
    if (!n["steps"] || !n["steps"].IsSequence() || n["steps"].size() == 0)
      throw ConfigError(b.at, "branch '" + b.id + "' needs a non-empty `steps:` list");
    for (const auto& step : n["steps"]) b.steps.push_back(load_node(step, c));
    return b;
  }

  Parallel load_parallel(const YAML::Node& n, const Chain& c) {
    refuse_unknown_keys(file_, n, {"parallel"}, "parallel group");
    Parallel p;
    p.at = where(file_, n["parallel"]);
    if (!n["parallel"].IsSequence() || n["parallel"].size() == 0)
      throw ConfigError(p.at, "`parallel` must be a non-empty list of branches");
    for (const auto& item : n["parallel"]) {
      if (!item.IsMap() || !item["branch"])
        throw ConfigError(where(file_, item), "each item of `parallel` must be a `branch:`");
      p.branches.push_back(load_branch(item, c));
    }
    return p;
  }

  Step load_step(const YAML::Node& n, const Chain& c) {
    if (!n["step"]) throw ConfigError(where(file_, n), "a node needs its kind as key, e.g. `step: <id>`");
    refuse_unknown_keys(file_, n, {"step", "engine", "output", "system", "user", "sampling", "retries", "instruction"},
                        "step");
    Step s;
    s.where = where(file_, n["step"]);
    s.id = scalar_as<std::string>(file_, n["step"], "`step`");
    for (const char* key : {"engine", "output", "system", "user", "retries"})
      if (n[key]) s.keys[key] = where(file_, n[key]);
    if (n["engine"]) s.engine = scalar_as<std::string>(file_, n["engine"], "`engine`");
    if (n["output"]) s.output = type_ref(n["output"], c, s.id);
    if (n["user"]) s.user = compile_scalar<Template>(n["user"], file_, "`user`");
    if (n["system"]) s.system = compile_scalar<Template>(n["system"], file_, "`system`");
    if (n["sampling"]) s.sampling = load_sampling(n["sampling"]);
    if (n["retries"]) s.retries = scalar_as<int>(file_, n["retries"], "`retries`");
    if (n["instruction"]) s.instruction = scalar_as<std::string>(file_, n["instruction"], "`instruction`");
    return s;
  }

  std::string file_, dir_;
};

}  // namespace

Chain parse_chain(const std::string& text, const std::string& file, std::vector<ChainWarning>* warnings) {
  const YAML::Node root = load_yaml_text(text, file);
  const std::string dir = file.empty() ? "." : fs::path(file).parent_path().string();
  Chain c = ChainLoader(file, dir.empty() ? "." : dir).load(root);
  c.file = file;
  c.file_sha256 = sha256_hex(text);
  auto found = check_chain(c, false);
  if (warnings) *warnings = std::move(found);
  return c;
}

Chain load_chain(const std::string& path, std::vector<ChainWarning>* warnings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError({path, 0}, "cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_chain(ss.str(), path, warnings);
}

}  // namespace skein
