// A run's snapshot as JSON and back: the store's record of it and the server's answer about it
// (to_json of a snapshot, an event and a gate: skein/run_registry.hpp).
#pragma once
#include "skein/run_registry.hpp"

namespace skein {

RunSnapshot run_from_json(const Json& j);
// A run's steps, one by one (the store keeps them as rows).
Json to_json(const TraceEntry& entry);
Json to_json(const NodeTiming& timing);
Json to_json(const DepTiming& timing);
TraceEntry entry_from_json(const Json& j);
NodeTiming node_from_json(const Json& j);
DepTiming dep_from_json(const Json& j);
// The store's text of a step: what dumping its to_json() gives (invalid UTF-8 replaced), written
// without building the JSON.
std::string step_text(const TraceEntry& entry);
std::string step_text(const NodeTiming& timing);
std::string step_text(const DepTiming& timing);
std::string dumped(const Json& j);  // compact, invalid UTF-8 replaced

}  // namespace skein
