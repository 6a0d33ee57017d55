#include "apply_file.hpp"

#include "node_checks.hpp"
#include "util/yaml_json.hpp"

namespace skein {

Apply load_apply(const YAML::Node& n, const std::string& file) {
  refuse_unknown_keys(file, n, {"apply", "fn", "where", "set", "field", "command", "timeout"}, "apply");
  Apply a;
  a.at = where(file, n["apply"]);
  a.id = scalar_as<std::string>(file, n["apply"], "`apply`");
  for (const char* key : {"fn", "where", "set", "field", "command", "timeout"})
    if (n[key]) a.keys[key] = where(file, n[key]);
  if (n["fn"]) {  // a built-in's name, else a native function's
    a.fn = scalar_as<std::string>(file, n["fn"], "`fn`");
    if (auto kind = enum_from<ApplyKind>(a.fn); kind && *kind != ApplyKind::native) a.kind = *kind, a.fn.clear();
  }
  check_apply_shape(a);  // before compiling keys the fn does not take
  if (n["where"]) a.where = compile_scalar<Expression>(n["where"], file, "`where`");
  if (n["set"]) {
    if (!n["set"].IsMap()) throw ConfigError(where(file, n["set"]), "`set` must map names to expressions");
    for (const auto& kv : n["set"]) {
      const std::string name = kv.first.Scalar();
      a.keys["set." + name] = where(file, kv.second);
      a.set.emplace_back(name, compile_scalar<Expression>(kv.second, file, "`set." + name + "`"));
    }
  }
  if (n["field"]) a.field = compile_scalar<Expression>(n["field"], file, "`field`");
  if (n["command"])
    a.command = n["command"].IsSequence()
                    ? scalar_list(file, n["command"], "`command`")
                    : std::vector<std::string>{"sh", "-c", scalar_as<std::string>(file, n["command"], "`command`")};
  if (n["timeout"]) a.timeout = scalar_as<double>(file, n["timeout"], "`timeout`");
  return a;
}

}  // namespace skein
