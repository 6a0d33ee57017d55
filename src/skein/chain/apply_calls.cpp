#include "apply_calls.hpp"

#include "skein/error.hpp"

namespace skein {

bool is_builtin_apply(const std::string& fn) {
  return fn == "filter" || fn == "map" || fn == "explode" || fn == "exec";
}

bool apply_fans_out(const Apply& a) { return a.fn != "filter" && a.fn != "map"; }

std::vector<Json> ApplyCalls::outputs(const Apply& a, const std::string& path, const Json& history) {
  if (a.fn == "exec") return exec_worker(a, path).call(history);
  if (a.fn == "filter") return a.where->truthy(history) ? std::vector<Json>{true} : std::vector<Json>{};
  if (a.fn == "map") {
    Json out = Json::object();
    for (const auto& [key, expr] : a.set) out[key] = expr->value(history);
    return {out};
  }
  if (a.fn == "explode") {
    Json list = a.field->value(history);
    if (!list.is_array()) throw Error("`" + a.field->source() + "` is not a list but " + list.type_name());
    return std::vector<Json>(list.begin(), list.end());
  }
  return chain_.functions.at(a.fn)(history);
}

ExecWorker& ApplyCalls::exec_worker(const Apply& a, const std::string& path) {
  auto& worker = workers_[path];
  if (!worker) {
    std::string dir = chain_.file.empty() ? "." : std::filesystem::path(chain_.file).parent_path().string();
    if (dir.empty()) dir = ".";
    worker = std::make_unique<ExecWorker>(a.command, dir, (run_dir_ / path / "stderr.log").string());
  }
  return *worker;
}

}  // namespace skein
