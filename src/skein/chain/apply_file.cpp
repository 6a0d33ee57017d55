#include "apply_file.hpp"

#include "node_checks.hpp"
#include "util/yaml_json.hpp"

namespace skein {
namespace {

std::shared_ptr<Expression> expression(const YAML::Node& n, const std::string& file, const std::string& what,
                                       const Chain& chain) {
  return load_checked<Expression>(n, file, what, chain);
}

void require(const YAML::Node& n, const char* key, const Apply& a) {
  if (!n[key]) throw ConfigError(a.at, "apply '" + a.id + "' with fn " + a.fn + " needs `" + key + ":`");
}

}  // namespace

Apply load_apply(const YAML::Node& n, const std::string& file, const Chain& chain) {
  refuse_unknown_keys(file, n, {"apply", "fn", "where", "set", "field", "command", "timeout"}, "apply");
  Apply a;
  a.at = where(file, n["apply"]);
  a.id = scalar_as<std::string>(file, n["apply"], "`apply`");
  check_node_id(a.id, a.at, chain);
  if (!n["fn"]) throw ConfigError(a.at, "apply '" + a.id + "' needs `fn:` (filter, map, explode or a registered name)");
  a.fn = scalar_as<std::string>(file, n["fn"], "`fn`");
  if (a.fn == "filter") {
    require(n, "where", a);
    a.where = expression(n["where"], file, "`where`", chain);
  } else if (a.fn == "map") {
    require(n, "set", a);
    if (!n["set"].IsMap()) throw ConfigError(where(file, n["set"]), "`set` must map names to expressions");
    for (const auto& kv : n["set"])
      a.set.emplace_back(kv.first.Scalar(), expression(kv.second, file, "`set." + kv.first.Scalar() + "`", chain));
  } else if (a.fn == "explode") {
    require(n, "field", a);
    a.field = expression(n["field"], file, "`field`", chain);
  } else if (a.fn == "exec") {
    require(n, "command", a);
    a.command = n["command"].IsSequence()
                    ? scalar_list(file, n["command"], "`command`")
                    : std::vector<std::string>{"sh", "-c", scalar_as<std::string>(file, n["command"], "`command`")};
    if (n["timeout"]) {
      a.timeout = scalar_as<double>(file, n["timeout"], "`timeout`");
      if (*a.timeout <= 0)
        throw ConfigError(where(file, n["timeout"]), "`timeout` must be a positive number of seconds");
    }
  }
  const std::map<std::string, std::string> key_of = {
      {"filter", "where"}, {"map", "set"}, {"explode", "field"}, {"exec", "command"}};
  if (n["timeout"] && a.fn != "exec")
    throw ConfigError(where(file, n["timeout"]), "`timeout` does not apply to fn " + a.fn);
  for (const char* key : {"where", "set", "field", "command"})
    if (n[key] && (!key_of.count(a.fn) || key_of.at(a.fn) != key))
      throw ConfigError(where(file, n[key]), std::string("`") + key + "` does not apply to fn " + a.fn);
  return a;
}

}  // namespace skein
