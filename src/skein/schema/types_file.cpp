#include "types_file.hpp"

#include "util/yaml_json.hpp"

namespace skein {

void load_types(const std::string& file, const YAML::Node& types, TypeSet& set) {
  if (!types.IsMap()) throw ConfigError(where(file, types), "`types` must be a mapping of name to JSON Schema");
  for (const auto& kv : types) {
    LineMap lines;
    Json schema = yaml_to_json(kv.second, &lines);
    set.add(kv.first.Scalar(), std::move(schema), where(file, kv.first), lines);
  }
}

}  // namespace skein
