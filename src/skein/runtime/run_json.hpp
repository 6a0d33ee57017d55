// A run's snapshot as JSON and back: the store's record of it and the server's answer about it.
#pragma once
#include "skein/run_registry.hpp"

namespace skein::runtime {

Json to_json(const RunSnapshot& run);
RunSnapshot run_from_json(const Json& j);
Json to_json(const RunEvent& event);
Json to_json(const GateInfo& gate);
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

}  // namespace skein::runtime
