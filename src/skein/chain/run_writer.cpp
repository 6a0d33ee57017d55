#include "run_writer.hpp"

#include <set>

#include "skein/error.hpp"

namespace skein {

namespace fs = std::filesystem;

RunWriter::RunWriter(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error("cannot create output folder " + dir_.string() + ": " + ec.message());
}

void RunWriter::start(const std::vector<std::string>& nodes) {
  // Artefacts of an earlier run here (other nodes' folders included) would mix with this run's.
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    const bool ours =
        name == "run.json" || name == "graph.json" || name == "errors.jsonl" || fs::exists(entry.path() / "000.jsonl");
    if (!ours)
      throw Error("output folder " + dir_.string() + " holds '" + name +
                  "', which is not a Skein artefact: choose an empty folder");
    fs::remove_all(entry.path());
  }
  for (const auto& node : nodes) file(node);
  file("flattened");
  file("errors");
}

std::ofstream& RunWriter::file(const std::string& node) {
  auto& f = files_[node];
  if (!f) {
    const fs::path path = node == "errors" ? dir_ / "errors.jsonl" : dir_ / node / "000.jsonl";
    fs::create_directories(path.parent_path());
    f = std::make_unique<std::ofstream>(path, std::ios::trunc);
    if (!*f) throw Error("cannot write " + path.string());
  }
  return *f;
}

void RunWriter::output(const std::string& node, long long row_id, const std::string& id, const Json& value) {
  file(node) << Json{{"row_id", row_id}, {"id", id}, {"output", value}}.dump(-1, ' ', false,
                                                                             Json::error_handler_t::replace)
             << '\n';
}

void RunWriter::error(const ErrorRecord& e) {
  Json j{{"row_id", e.row_id}, {"node", e.node}};
  if (e.line) j["line"] = e.line;
  j["raw"] = e.raw;
  j["reason"] = e.reason;
  file("errors") << j.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
}

void RunWriter::json_file(const std::string& name, const Json& value) {
  const fs::path tmp = dir_ / (name + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << value.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
  }
  fs::rename(tmp, dir_ / name);
}

void RunWriter::line(const std::string& node, const Json& value) {
  file(node) << value.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
}

void RunWriter::flush() {
  for (auto& [k, f] : files_) f->flush();
}

}  // namespace skein
