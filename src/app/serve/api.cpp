#include "api.hpp"

#include "runtime/run_json.hpp"

namespace skein::app {

namespace {

ApiResponse error(int status, std::string message) { return {status, {{"error", std::move(message)}}}; }

// "/api/runs/g3/cancel" -> {"api", "runs", "g3", "cancel"}
std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    const size_t j = path.find('/', i);
    const size_t end = j == std::string::npos ? path.size() : j;
    if (end > i) out.push_back(path.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

Json parse_body(const std::string& body) {
  try {
    return Json::parse(body.empty() ? "{}" : body);
  } catch (const Json::parse_error& e) {
    throw Error(std::string("the body is not valid JSON: ") + e.what());
  }
}

Json engines_json(const Host& host) {
  Json out = Json::array();
  for (const auto& e : host.engines())
    out.push_back({{"name", e.name},
                   {"backend", e.backend},
                   {"model", e.model},
                   {"state", e.state},
                   {"leases", e.leases},
                   {"idle_seconds", e.idle_seconds},
                   {"load_seconds", e.load_seconds}});
  return out;
}

Json gates_json(const std::vector<GateInfo>& gates) {
  Json out = Json::array();
  for (const auto& g : gates) out.push_back(runtime::to_json(g));
  return out;
}

ApiResponse submit(Host& host, const ApiRequest& req) {
  const Json body = parse_body(req.body);
  if (!body.is_object() || !body.contains("file") || !body["file"].is_string())
    return error(400, "expected {\"file\": <a loaded file or its name>, \"input\": …}");
  const std::string file = body["file"];
  if (!host.find(file)) return error(404, "no file '" + file + "' is loaded (see GET /api/files)");
  return {201, {{"id", host.submit(file, body.value("input", Json::object()))}}};
}

ApiResponse runs(Host& host, const std::vector<std::string>& s, const ApiRequest& req) {
  RunRegistry& registry = host.registry();
  if (s.size() == 2) {
    if (req.method == "POST") return submit(host, req);
    Json list = Json::array();
    for (const auto& r : registry.list()) list.push_back(run_summary_json(r));
    return {200,
            {{"runs", std::move(list)},
             {"pending_gates", registry.pending_gates()},
             {"crashed", registry.crashed()},
             {"now_ns", now_ns()}}};
  }
  const auto run = registry.get(s[2]);
  if (!run) return error(404, "no run '" + s[2] + "'");
  if (s.size() == 3) {
    Json j = runtime::to_json(*run);
    j["now_ns"] = now_ns();
    return {200, std::move(j)};
  }
  if (s.size() == 4 && s[3] == "events") {
    Json events = Json::array();
    for (const auto& e : registry.events(s[2])) events.push_back(runtime::to_json(e));
    return {200, {{"events", std::move(events)}}};
  }
  if (s.size() == 4 && s[3] == "resume") {
    if (req.method != "POST") return error(405, "resume is a POST");
    return {201, {{"id", host.resume(s[2])}}};
  }
  if (s.size() == 4 && s[3] == "cancel") {
    if (req.method != "POST") return error(405, "cancel is a POST");
    return {200, {{"cancelled", registry.cancel(s[2])}}};
  }
  return error(404, "no route " + req.path);
}

ApiResponse gates(Host& host, const std::vector<std::string>& s, const ApiRequest& req) {
  RunRegistry& registry = host.registry();
  if (s.size() == 2) return {200, {{"gates", gates_json(registry.gates())}}};
  if (req.method != "POST") return error(405, "answer a gate with POST {\"value\": …}");
  bool open = false;
  for (const auto& g : registry.gates()) open |= g.id == s[2];
  if (!open) return error(404, "no open gate '" + s[2] + "'");
  const Json body = parse_body(req.body);
  if (!body.is_object() || !body.contains("value")) return error(400, "expected {\"value\": …}");
  registry.answer(s[2], body["value"]);
  return {200, {{"answered", s[2]}}};
}

ApiResponse route(Host& host, const ApiRequest& req) {
  const auto s = segments(req.path);
  if (s.size() < 2 || s[0] != "api") return error(404, "no route " + req.path);
  const bool get = req.method == "GET";
  if (s[1] == "runs") return runs(host, s, req);
  if (s[1] == "gates") return gates(host, s, req);
  if (s[1] == "engines" && get && s.size() == 2) return {200, {{"engines", engines_json(host)}}};
  if (s[1] == "files" && get && s.size() == 2) {
    Json files = Json::array();
    for (const auto& f : host.files()) files.push_back({{"path", f.path}, {"name", f.name}, {"kind", f.kind}});
    return {200, {{"files", std::move(files)}}};
  }
  return error(404, "no route " + req.method + " " + req.path);
}

}  // namespace

Json run_summary_json(const RunSnapshot& run) {
  Json j = runtime::to_json(run);
  for (const char* heavy : {"trace", "nodes", "deps", "input", "terminal"}) j.erase(heavy);
  j["steps"] = run.trace.size();
  return j;
}

ApiResponse handle_api(Host& host, const ApiRequest& req) {
  try {
    return route(host, req);
  } catch (const Error& e) {
    return error(400, e.what());
  }
}

}  // namespace skein::app
