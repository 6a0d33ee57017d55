#include "api.hpp"

namespace skein::app {

namespace {

// The runs GET /api/runs lists beside this host's: the latest of the store (other hosts' runs,
// this host's finished beyond its history).
constexpr size_t kStoredListed = 200;

// An HTTP-only refusal (405), outside the error codes.
struct ApiError : std::runtime_error {
  ApiError(int s, std::string c, const std::string& message)
      : std::runtime_error(message), status(s), code(std::move(c)) {}
  int status;
  std::string code;
};

// The one table from error codes to HTTP statuses; any other code (unknown) is 500.
constexpr std::pair<ErrorCode, int> kHttpStatus[] = {
    {ErrorCode::invalid_argument, 400},   {ErrorCode::unauthenticated, 401},  {ErrorCode::permission_denied, 403},
    {ErrorCode::not_found, 404},          {ErrorCode::already_exists, 409},   {ErrorCode::failed_precondition, 409},
    {ErrorCode::resource_exhausted, 413}, {ErrorCode::invalid_value, 422},    {ErrorCode::cancelled, 499},
    {ErrorCode::unavailable, 503},        {ErrorCode::deadline_exceeded, 504}};

int http_status(ErrorCode code) {
  for (const auto& [c, status] : kHttpStatus)
    if (c == code) return status;
  return 500;
}

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
  } catch (const Json::exception& e) {
    throw InvalidArgumentError(std::string("the body is not valid JSON: ") + e.what());
  }
}

[[noreturn]] void no_route(const ApiRequest& req) { throw NotFoundError("no route " + req.method + " " + req.path); }

void expect_post(const ApiRequest& req, const char* what) {
  if (req.method != "POST") throw ApiError(405, "METHOD_NOT_ALLOWED", what);
}

Json engines_json(const Host& host) {
  Json out = Json::array();
  for (const auto& e : host.engines())
    out.push_back({{"name", e.name},
                   {"backend", e.backend},
                   {"model", e.model},
                   {"state", to_string(e.state)},
                   {"leases", e.leases},
                   {"idle_seconds", e.idle_seconds},
                   {"load_seconds", e.load_seconds}});
  return out;
}

Json gates_json(const std::vector<GateInfo>& gates) {
  Json out = Json::array();
  for (const auto& g : gates) out.push_back(to_json(g));
  return out;
}

ApiResponse submit(Host& host, const ApiRequest& req) {
  const Json body = parse_body(req.body);
  if (!body.is_object() || !body.contains("file") || !body["file"].is_string())
    throw InvalidArgumentError("expected {\"file\": <a loaded file or its name>, \"input\": …}");
  return {201, {{"id", host.submit(body["file"], body.value("input", Json::object()))}}};
}

ApiResponse runs(Host& host, const std::vector<std::string>& s, const ApiRequest& req) {
  RunRegistry& registry = host.registry();
  if (s.size() == 2) {
    if (req.method == "POST") return submit(host, req);
    Json list = Json::array();
    for (const auto& r : registry.list_with_store(kStoredListed)) list.push_back(run_summary_json(r));
    return {200,
            {{"runs", std::move(list)},
             {"pending_gates", registry.pending_gates()},
             {"crashed", registry.crashed()},
             {"now_ns", now_ns()}}};
  }
  const auto run = registry.get(s[2]);
  if (!run) throw NotFoundError("no run '" + s[2] + "'");
  if (s.size() == 3) {
    Json j = to_json(*run);
    j["now_ns"] = now_ns();
    return {200, std::move(j)};
  }
  if (s.size() == 4 && s[3] == "events") {
    Json events = Json::array();
    for (const auto& e : registry.events(s[2])) events.push_back(to_json(e));
    return {200, {{"events", std::move(events)}}};
  }
  if (s.size() == 4 && s[3] == "resume") {
    expect_post(req, "resume is a POST");
    return {201, {{"id", host.resume(s[2])}}};
  }
  if (s.size() == 4 && s[3] == "fork") {
    expect_post(req, "fork is a POST {\"at\": k, \"fields\": {…}}");
    const Json body = parse_body(req.body);
    if (!body.is_object() || !body.contains("at") || !body["at"].is_number_unsigned())
      throw InvalidArgumentError("expected {\"at\": <node index>, \"fields\": {…}}");
    return {201, {{"id", host.fork(s[2], body["at"].get<size_t>(), body.value("fields", Json::object()))}}};
  }
  if (s.size() == 4 && s[3] == "cancel") {
    expect_post(req, "cancel is a POST");
    if (!registry.cancel(s[2])) {
      const auto now = registry.get(s[2]);
      if (!now) throw NotFoundError("no run '" + s[2] + "'");
      throw FailedPreconditionError("run " + s[2] + " is " + to_string(now->state) + ": it cannot be cancelled");
    }
    return {200, {{"cancelled", true}}};
  }
  no_route(req);
}

ApiResponse gates(Host& host, const std::vector<std::string>& s, const ApiRequest& req) {
  RunRegistry& registry = host.registry();
  if (s.size() == 2) return {200, {{"gates", gates_json(registry.gates())}}};
  if (s.size() != 3) no_route(req);
  expect_post(req, "answer a gate with POST {\"value\": …}");
  const Json body = parse_body(req.body);
  if (!body.is_object() || !body.contains("value")) throw InvalidArgumentError("expected {\"value\": …}");
  registry.answer(s[2], body["value"]);
  return {200, {{"answered", s[2]}}};
}

ApiResponse route(Host& host, const ApiRequest& req) {
  const auto s = segments(req.path);
  if (s.size() < 2 || s[0] != "api") no_route(req);
  const bool get = req.method == "GET";
  if (s[1] == "runs") return runs(host, s, req);
  if (s[1] == "gates") return gates(host, s, req);
  if (s[1] == "engines" && get && s.size() == 2) return {200, {{"engines", engines_json(host)}}};
  if (s[1] == "files" && get && s.size() == 2) {
    Json files = Json::array();
    for (const auto& f : host.files())
      files.push_back({{"path", f.path}, {"name", f.name}, {"kind", to_string(f.kind)}});
    return {200, {{"files", std::move(files)}}};
  }
  no_route(req);
}

}  // namespace

Json run_summary_json(const RunSnapshot& run) {
  Json j = to_json(run);
  for (const char* heavy : {"trace", "nodes", "deps", "input", "terminal"}) j.erase(heavy);
  j["steps"] = run.trace.size();
  return j;
}

std::string ApiResponse::text() const { return body.dump(-1, ' ', false, Json::error_handler_t::replace); }

ApiResponse error_response(int status, const std::string& code, const std::string& message) {
  return {status, {{"error", message}, {"code", code}}};
}

ApiResponse handle_api(Host& host, const ApiRequest& req) {
  try {
    return route(host, req);
  } catch (const ApiError& e) {
    return error_response(e.status, e.code, e.what());
  } catch (const Error& e) {
    return error_response(http_status(e.code()), to_string(e.code()), e.what());
  } catch (const std::exception& e) {  // a bug: said, not a dropped connection
    return error_response(500, to_string(ErrorCode::unknown), std::string("internal error: ") + e.what());
  }
}

}  // namespace skein::app
