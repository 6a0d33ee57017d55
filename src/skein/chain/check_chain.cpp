// check_chain: the one set of chain checks, for chains loaded from files and built in C++ alike.
// Nodes are checked in order against a scope holding the nodes before them, as the history holds
// their outputs when a record reaches the node.
#include "node_checks.hpp"
#include "skein/chain.hpp"

namespace skein {
namespace {

class ChainChecker {
 public:
  ChainChecker(const Chain& chain, bool require_functions, const std::function<bool(const std::string&)>& has_engine)
      : chain_(chain), require_functions_(require_functions), has_engine_(has_engine) {}

  std::vector<ChainWarning> run() {
    const Location top{chain_.file, 0};
    if (chain_.steps.empty()) throw ConfigError(top, "the chain has no steps");
    if (chain_.batch_size < 1) throw ConfigError(top, "`batch_size` must be a positive integer");
    check_unique_ids(chain_);  // first: every id, in one walk
    Chain scope = empty_scope();
    check_nodes(chain_.steps, scope);
    return std::move(warnings_);
  }

 private:
  // The chain without its nodes: the scope of the first node.
  Chain empty_scope() const {
    Chain scope;
    scope.file = chain_.file;
    scope.engines = chain_.engines;
    scope.input = chain_.input;
    return scope;
  }

  void check_nodes(const std::vector<Node>& nodes, Chain& scope) {
    for (const auto& node : nodes) {
      if (const Step* s = std::get_if<Step>(&node)) check_step(*s, scope);
      if (const Apply* a = std::get_if<Apply>(&node)) check_apply(*a, scope);
      if (const Branch* b = std::get_if<Branch>(&node)) check_branch(*b, scope);
      if (const Parallel* p = std::get_if<Parallel>(&node)) check_parallel(*p, scope);
      scope.steps.push_back(node);
    }
  }

  // A branch sees the history where it stands, plus its own earlier nodes.
  void check_branch(const Branch& b, const Chain& scope) {
    if (b.join) check_join_alias(*b.join, key_at(b.keys, "join", b.at), scope);
    if (b.steps.empty()) throw ConfigError(b.at, "branch '" + b.id + "' needs a non-empty `steps:` list");
    Chain inner = scope;
    check_nodes(b.steps, inner);
  }

  // Branches of a group run side by side: none sees another's outputs.
  void check_parallel(const Parallel& p, const Chain& scope) {
    if (p.branches.empty()) throw ConfigError(p.at, "`parallel` must be a non-empty list of branches");
    for (const auto& b : p.branches) check_branch(b, scope);
  }

  void check_step(const Step& s, const Chain& scope) {
    if (s.engine != "local" && !chain_.engines.count(s.engine) && !(has_engine_ && has_engine_(s.engine)))
      throw ConfigError(key_at(s.keys, "engine", s.where),
                        "step '" + s.id + "' uses unknown engine '" + s.engine + "'");
    if (!s.output) throw ConfigError(s.where, "step '" + s.id + "' needs `output:` (a type name or schema)");
    try {
      s.output->grammar();  // refuse now a type llama.cpp cannot constrain, not at run time
    } catch (const ConfigError& e) {
      throw ConfigError(key_at(s.keys, "output", s.where), e.message());
    }
    if (!s.user) throw ConfigError(s.where, "step '" + s.id + "' needs a `user:` template");
    check_reads(*s.user, "`user`", key_at(s.keys, "user", s.where), scope);
    if (s.system) check_reads(*s.system, "`system`", key_at(s.keys, "system", s.where), scope);
    if (s.retries < 0) throw ConfigError(key_at(s.keys, "retries", s.where), "`retries` must be 0 or more");
    if (s.user->names().empty() && (!s.system || s.system->names().empty()))
      warn(s.where, "step '" + s.id + "' reads nothing from the history: every record gets the same prompt");
  }

  void check_apply(const Apply& a, const Chain& scope) {
    check_apply_shape(a);
    if (a.where) check_reads(*a.where, "`where`", key_at(a.keys, "where", a.at), scope);
    for (const auto& [name, expr] : a.set) {
      const std::string what = "`set." + name + "`";
      if (!expr) throw ConfigError(key_at(a.keys, "set." + name, a.at), what + " has no expression");
      check_reads(*expr, what, key_at(a.keys, "set." + name, a.at), scope);
    }
    if (a.field) check_reads(*a.field, "`field`", key_at(a.keys, "field", a.at), scope);
    if (a.timeout && *a.timeout <= 0)
      throw ConfigError(key_at(a.keys, "timeout", a.at), "`timeout` must be a positive number of seconds");
    if (require_functions_ && a.kind == ApplyKind::native && !chain_.functions.count(a.fn))
      throw ConfigError(a.at, "apply '" + a.id + "': no function named '" + a.fn + "' is registered");
    if (a.kind == ApplyKind::filter && a.where && a.where->names().empty())
      warn(a.at, "filter '" + a.id + "' reads nothing from the history: it keeps every record or none");
  }

  // A template or expression reads only what the history has at this point.
  template <typename T>
  void check_reads(const T& compiled, const std::string& what, const Location& at, const Chain& scope) {
    check_history_names(compiled.names(), what, at, scope);
    check_history_paths(compiled.paths(), what, at, scope);
  }

  void warn(const Location& at, std::string message) { warnings_.push_back({at, std::move(message)}); }

  const Chain& chain_;
  const bool require_functions_;
  const std::function<bool(const std::string&)>& has_engine_;
  std::vector<ChainWarning> warnings_;
};

}  // namespace

std::vector<ChainWarning> check_chain(const Chain& chain, bool require_functions,
                                      const std::function<bool(const std::string&)>& has_engine) {
  return ChainChecker(chain, require_functions, has_engine).run();
}

std::vector<ChainWarning> check_chain(const Chain& chain, bool require_functions) {
  return check_chain(chain, require_functions, {});
}

}  // namespace skein
