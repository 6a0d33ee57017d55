// The engines a chain run's steps used, as run.json records them and as the response cache keys
// their replies. Called on the run's loop only; asks the broker (which must outlive it) without
// blocking.
#pragma once
#include <map>
#include <string>

#include "skein/broker.hpp"
#include "skein/chain.hpp"

namespace skein {

class RunEngines {
 public:
  RunEngines(const Chain& chain, Broker& broker) : chain_(chain), broker_(broker) {}

  // The engine's model and load time, the first time a step leases it (its load time into
  // `summary`).
  void note(const std::string& name, RunSummary& summary);
  // What the response cache keys the engine's replies by: the configuration the broker runs under
  // that name (a host's broker may hold another file's).
  const std::string& model_id(const std::string& name);
  // run.json's {name: {model, load_seconds}}.
  Json json(const RunSummary& summary) const;

 private:
  const Chain& chain_;
  Broker& broker_;
  std::map<std::string, std::string> models_, model_ids_;
};

}  // namespace skein
