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
RunState state_from_name(const std::string& name);  // Error for an unknown one

}  // namespace skein::runtime
