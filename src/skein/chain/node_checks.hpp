// Checks every chain node shares (check_chain's parts): ids, and names read from the history.
#pragma once
#include <functional>
#include <set>
#include <string>

#include "skein/chain.hpp"
#include "util/yaml_json.hpp"

namespace skein {

// Ids name folders and history keys: identifiers only, not reserved (check_unique_ids: unique).
// ConfigError at `at`.
void check_node_id(const std::string& id, const Location& at);
// A branch's join alias: an id, and none of the ids before it in `scope`.
void check_join_alias(const std::string& alias, const Location& at, const Chain& scope);

// Where `key` of a node was declared, else the node itself.
Location key_at(const KeyLocations& keys, const std::string& key, const Location& node);

// An Apply's fn and keys: a fn (a built-in, or a native function not named after one), the key its
// built-in needs and no other built-in's key (present: in `keys`, or set in C++), `timeout` only
// for exec. ConfigError at the key, else the node. The loader calls it before compiling the keys.
void check_apply_shape(const Apply& apply);

// check_chain, with the engines a run's broker holds besides the chain's (`has_engine` may be empty).
std::vector<ChainWarning> check_chain(const Chain& chain, bool require_functions,
                                      const std::function<bool(const std::string&)>& has_engine);

// Every id is one (check_node_id) and unique across the whole chain, branches of parallel groups
// included: ConfigError at the first that is not, in the chain's order.
void check_unique_ids(const Chain& chain);

// Every name must be in the history before the next node: chain_input, row_id or an earlier
// node's id. ConfigError at `at` naming `what` and the available names.
void check_history_names(const std::set<std::string>& names, const std::string& what, const Location& at,
                         const Chain& chain);

// Every field path into a typed value (chain_input with a declared input type, an earlier Step's
// output) must name fields its type declares, as far as the type says (objects with `properties`
// and no `additionalProperties`). ConfigError at `at` naming the type's fields.
void check_history_paths(const std::vector<std::vector<std::string>>& paths, const std::string& what,
                         const Location& at, const Chain& chain);

// A Template or Expression from a YAML scalar: a syntax error is a ConfigError at the scalar's line
// (what it reads is check_chain's concern).
template <typename T>
std::shared_ptr<T> compile_scalar(const YAML::Node& n, const std::string& file, const std::string& what) {
  const Location at = where(file, n);
  try {
    return std::make_shared<T>(scalar_as<std::string>(file, n, what), at.str() + " " + what);
  } catch (const TemplateError& e) {
    throw ConfigError(at, what + ": " + e.detail());
  }
}

}  // namespace skein
