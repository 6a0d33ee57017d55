#include "run_engines.hpp"

#include "response_cache.hpp"

namespace skein {

void RunEngines::note(const std::string& name, RunSummary& summary) {
  if (models_.count(name)) return;
  for (const auto& s : broker_.status())
    if (s.name == name) {
      summary.engine_load_seconds[name] = s.load_seconds;
      models_[name] = s.backend + ":" + s.model;
    }
}

const std::string& RunEngines::model_id(const std::string& name) {
  auto it = model_ids_.find(name);
  if (it != model_ids_.end()) return it->second;
  const EngineConfig config =
      broker_.config(name).value_or(chain_.engines.count(name) ? chain_.engines.at(name) : local_engine_config());
  return model_ids_[name] = model_identity(config.backend, config.model, config.options.dump());
}

Json RunEngines::json(const RunSummary& summary) const {
  Json engines = Json::object();
  for (const auto& [name, model] : models_)
    engines[name] = {{"model", model}, {"load_seconds", summary.engine_load_seconds.at(name)}};
  return engines;
}

}  // namespace skein
