#include "node_checks.hpp"

#include <map>
#include <regex>

namespace skein {

namespace {

struct IdOf {
  std::string operator()(const Step& s) const { return s.id; }
  std::string operator()(const Apply& a) const { return a.id; }
  std::string operator()(const Branch& b) const { return b.id; }
  std::string operator()(const Parallel& p) const {
    std::string out;
    for (const auto& b : p.branches) out += (out.empty() ? "(" : "|") + b.id;
    return out + ")";
  }
};

// Every id a node and its branches take (ids are unique across the whole chain: they name folders).
void collect_ids(const Node& node, std::vector<std::pair<std::string, Location>>& out) {
  if (const Parallel* p = std::get_if<Parallel>(&node)) {
    for (const auto& b : p->branches) collect_ids(Node(b), out);
    return;
  }
  out.emplace_back(std::visit(IdOf{}, node), node_location(node));
  if (const Branch* b = std::get_if<Branch>(&node))
    for (const auto& n : b->steps) collect_ids(n, out);
}

}  // namespace

std::string node_id(const Node& node) { return std::visit(IdOf{}, node); }

const Location& node_location(const Node& node) {
  if (const Step* s = std::get_if<Step>(&node)) return s->where;
  if (const Apply* a = std::get_if<Apply>(&node)) return a->at;
  if (const Branch* b = std::get_if<Branch>(&node)) return b->at;
  return std::get<Parallel>(node).at;
}

std::vector<std::string> history_keys(const Node& node) {
  if (const Branch* b = std::get_if<Branch>(&node))
    return b->join ? std::vector<std::string>{*b->join} : std::vector<std::string>{};
  if (const Parallel* p = std::get_if<Parallel>(&node)) {
    std::vector<std::string> out;
    for (const auto& b : p->branches)
      if (b.join) out.push_back(*b.join);
    return out;
  }
  return {node_id(node)};
}

void check_node_id(const std::string& id, const Location& at) {
  static const std::regex kId("[A-Za-z_][A-Za-z0-9_]*");
  if (!std::regex_match(id, kId))
    throw ConfigError(at, "node id '" + id + "' must be letters, digits and _ (not starting with a digit)");
  for (const char* reserved : {"chain_input", "row_id", "input", "flattened", "errors"})
    if (id == reserved) throw ConfigError(at, "'" + id + "' is reserved and cannot be a node id");
}

void check_join_alias(const std::string& alias, const Location& at, const Chain& scope) {
  check_node_id(alias, at);
  std::vector<std::pair<std::string, Location>> ids;
  for (const auto& other : scope.steps) collect_ids(other, ids);
  for (const auto& [other, where] : ids)
    if (other == alias) throw ConfigError(at, "node id '" + alias + "' is used twice (first at " + where.str() + ")");
}

Location key_at(const KeyLocations& keys, const std::string& key, const Location& node) {
  auto it = keys.find(key);
  return it == keys.end() ? node : it->second;
}

void check_apply_shape(const Apply& a) {
  if (a.kind == ApplyKind::native && a.fn.empty())
    throw ConfigError(a.at, "apply '" + a.id + "' needs `fn:` (filter, map, explode, exec or a registered name)");
  if (a.kind != ApplyKind::native && !a.fn.empty())
    throw ConfigError(
        a.at, "apply '" + a.id + "' is a built-in " + to_string(a.kind) + " and names a function ('" + a.fn + "') too");
  if (a.kind == ApplyKind::native)
    if (auto builtin = enum_from<ApplyKind>(a.fn); builtin && *builtin != ApplyKind::native)
      throw ConfigError(a.at, "apply '" + a.id + "': a native function cannot be named after the built-in " + a.fn);
  const std::string fn = fn_name(a);
  const char* keys[] = {"where", "set", "field", "command"};
  const bool set_in_cpp[] = {bool(a.where), !a.set.empty(), bool(a.field), !a.command.empty()};
  const ApplyKind kinds[] = {ApplyKind::filter, ApplyKind::map, ApplyKind::explode, ApplyKind::exec};
  for (size_t i = 0; i < 4; ++i) {
    const bool has = set_in_cpp[i] || a.keys.count(keys[i]);
    if (a.kind == kinds[i] && !has)
      throw ConfigError(a.at, "apply '" + a.id + "' with fn " + fn + " needs `" + keys[i] + ":`");
    if (a.kind != kinds[i] && has)
      throw ConfigError(key_at(a.keys, keys[i], a.at), std::string("`") + keys[i] + "` does not apply to fn " + fn);
  }
  if ((a.timeout || a.keys.count("timeout")) && a.kind != ApplyKind::exec)
    throw ConfigError(key_at(a.keys, "timeout", a.at), "`timeout` does not apply to fn " + fn);
}

void check_unique_ids(const Chain& chain) {
  std::vector<std::pair<std::string, Location>> ids;
  for (const auto& node : chain.steps) collect_ids(node, ids);
  std::map<std::string, Location> first;
  for (const auto& [id, at] : ids) {
    check_node_id(id, at);
    if (!first.emplace(id, at).second)
      throw ConfigError(at, "node id '" + id + "' is used twice (first at " + first.at(id).str() + ")");
  }
}

void check_history_names(const std::set<std::string>& names, const std::string& what, const Location& at,
                         const Chain& chain) {
  std::set<std::string> known = {"chain_input", "row_id"};
  std::string available = "chain_input, row_id";
  for (const auto& node : chain.steps)
    for (const auto& key : history_keys(node)) known.insert(key), available += ", " + key;
  for (const auto& name : names)
    if (!known.count(name))
      throw ConfigError(
          at, what + " reads '" + name + "', which the history does not have here (available: " + available + ")");
}

namespace {

// The schema `s` stands for, following `$ref: #/$defs/X` within `root`.
const Json* resolved(const Json& root, const Json* s) {
  for (int hops = 0; hops < 16 && s->is_object() && s->contains("$ref"); ++hops) {
    const std::string ref = s->at("$ref").get<std::string>();
    const std::string prefix = "#/$defs/";
    if (ref.rfind(prefix, 0) != 0 || !root.contains("$defs") || !root["$defs"].contains(ref.substr(prefix.size())))
      return nullptr;
    s = &root["$defs"][ref.substr(prefix.size())];
  }
  return s;
}

// The typed values of the history at this point: chain_input (when declared) and Step outputs.
std::map<std::string, TypePtr> typed_names(const Chain& chain) {
  std::map<std::string, TypePtr> out;
  if (chain.input) out["chain_input"] = chain.input;
  for (const auto& node : chain.steps)
    if (const Step* s = std::get_if<Step>(&node)) out[s->id] = s->output;
  return out;
}

}  // namespace

void check_history_paths(const std::vector<std::vector<std::string>>& paths, const std::string& what,
                         const Location& at, const Chain& chain) {
  const auto typed = typed_names(chain);
  for (const auto& path : paths) {
    auto it = typed.find(path[0]);
    if (it == typed.end() || !it->second) continue;
    const Json& root = it->second->schema();
    const Json* s = &root;
    std::string dotted = path[0];
    for (size_t i = 1; i < path.size(); ++i) {
      s = resolved(root, s);
      if (!s || !s->is_object() || !s->contains("properties")) break;
      const Json& props = s->at("properties");
      if (!props.contains(path[i])) {
        const Json extra = s->value("additionalProperties", Json(false));
        if (!extra.is_boolean() || extra.get<bool>()) break;
        std::string fields;
        for (const auto& [k, v] : props.items()) fields += (fields.empty() ? "" : ", ") + k;
        const std::string type = it->second->name().empty() ? "its type" : "type " + it->second->name();
        throw ConfigError(at, what + " reads '" + dotted + "." + path[i] + "', but " + type + " has no field '" +
                                  path[i] + "' (fields: " + fields + ")");
      }
      dotted += "." + path[i];
      s = &props.at(path[i]);
    }
  }
}

}  // namespace skein
