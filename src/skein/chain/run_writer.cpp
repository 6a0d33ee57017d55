#include "run_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <regex>

#include "skein/chain.hpp"
#include "skein/error.hpp"

namespace skein {

namespace fs = std::filesystem;

namespace {

constexpr size_t kFileBuffer = 256 * 1024;  // a write(2) per 256 KB of lines, not per 8 KB

// A folder Skein wrote: only NNN.jsonl files and exec logs, at any depth.
bool is_node_folder(const fs::path& dir) {
  static const std::regex artefact(R"(\d{3,}\.jsonl|stderr\.log)");
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (!e.is_directory() && !std::regex_match(e.path().filename().string(), artefact)) return false;
  return true;
}

}  // namespace

RunWriter::RunWriter(fs::path dir, size_t max_lines_per_file)
    : dir_(std::move(dir)), max_lines_(max_lines_per_file ? max_lines_per_file : 1) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error("cannot create output folder " + dir_.string() + ": " + ec.message());
}

fs::path RunWriter::path_of(const std::string& node, int index) const {
  return node == kErrorsFile ? dir_ / "errors.jsonl" : dir_ / node / fmt::format("{:03}.jsonl", index);
}

namespace {

// Throws unless every entry of `dir` is one Skein writes.
void only_artefacts(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool ours = name == "run.json" || name == "graph.json" || name == "errors.jsonl" ||
                      name.ends_with(".json.tmp") || (entry.is_directory() && is_node_folder(entry.path()));
    if (!ours)
      throw Error("output folder " + dir.string() + " holds '" + name +
                  "', which is not a Skein artefact: choose an empty folder");
  }
}

}  // namespace

void check_run_folder(const std::string& dir) {
  const RunWriter made(dir, 1);  // makes the folder
  only_artefacts(dir);
  const fs::path probe = fs::path(dir) / ".skein-write-probe";
  if (!std::ofstream(probe)) throw Error("cannot write into output folder " + dir);
  fs::remove(probe);
}

void RunWriter::start(const std::vector<std::string>& nodes) {
  only_artefacts(dir_);
  for (const auto& entry : fs::directory_iterator(dir_)) fs::remove_all(entry.path());
  for (const auto& node : nodes) file(node);
  file(kFlattenedFile);
  file(kErrorsFile);
}

void RunWriter::resume(const std::vector<std::string>& nodes, const Json& positions) {
  std::vector<std::string> all = nodes;
  all.push_back(kFlattenedFile);
  all.push_back(kErrorsFile);
  for (const auto& node : all) {
    if (!positions.contains(node)) throw Error("the checkpoint does not know node '" + node + "'");
    const Json& p = positions.at(node);
    File& f = files_[node];
    f.index = p.at("file").get<int>();
    f.lines = p.at("lines").get<size_t>();
    f.bytes = p.at("bytes").get<uintmax_t>();
    const fs::path current = path_of(node, f.index);
    if (!fs::exists(current) || fs::file_size(current) < f.bytes)
      throw Error(current.string() + " is shorter than the checkpoint says: the run folder was changed");
    fs::resize_file(current, f.bytes);
    for (int later = f.index + 1; node != kErrorsFile && fs::exists(path_of(node, later)); ++later)
      fs::remove(path_of(node, later));
    open(node, f, std::ios::app);
  }
}

void RunWriter::open(const std::string& node, File& f, std::ios::openmode mode) {
  const fs::path path = path_of(node, f.index);
  fs::create_directories(path.parent_path());
  f.out = std::ofstream();
  if (!f.buffer) f.buffer = std::make_unique_for_overwrite<char[]>(kFileBuffer);
  f.out.rdbuf()->pubsetbuf(f.buffer.get(), kFileBuffer);  // before open(), or libstdc++ ignores it
  f.out.open(path, mode);
  if (!f.out) throw Error("cannot write " + path.string());
}

RunWriter::File& RunWriter::file(const std::string& node) {
  auto [it, fresh] = files_.try_emplace(node);
  if (fresh) open(node, it->second, std::ios::trunc);
  return it->second;
}

void RunWriter::write(const std::string& node, std::string_view line) {
  File& f = file(node);
  if (f.lines >= max_lines_ && node != kErrorsFile) {  // roll over to the next file
    f.out.close();                                     // its last block written now: a failure here is the file's
    if (!f.out) throw Error("cannot write " + path_of(node, f.index).string());
    ++f.index;
    f.lines = f.bytes = 0;
    open(node, f, std::ios::trunc);
  }
  f.out << line;
  ++f.lines;
  f.bytes += line.size();
}

void RunWriter::append(const std::string& node, std::string_view lines, size_t count) {
  File& f = file(node);
  if (node != kErrorsFile && f.lines + count > max_lines_) return write_lines(node, lines);  // a roll-over within
  f.out.write(lines.data(), std::streamsize(lines.size()));
  f.lines += count;
  f.bytes += lines.size();
}

void RunWriter::copy_lines(const std::string& node, std::string_view lines) {
  const bool unended = !lines.empty() && lines.back() != '\n';
  append(node, lines, size_t(std::count(lines.begin(), lines.end(), '\n')) + unended);
}

void RunWriter::write_lines(const std::string& node, std::string_view lines) {
  for (size_t from = 0; from < lines.size();) {
    const size_t end = std::min(lines.find('\n', from), lines.size() - 1) + 1;
    write(node, lines.substr(from, end - from));
    from = end;
  }
}

void RunWriter::json_file(const std::string& name, const Json& value) {
  const fs::path tmp = dir_ / (name + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << value.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
    if (!out.flush()) throw Error("cannot write " + tmp.string());
  }
  fs::rename(tmp, dir_ / name);
}

Json RunWriter::positions() {
  Json out = Json::object();
  for (auto& [node, f] : files_) {
    if (!f.out.flush()) throw Error("cannot write " + path_of(node, f.index).string());
    out[node] = {{"file", f.index}, {"lines", f.lines}, {"bytes", f.bytes}};
  }
  return out;
}

}  // namespace skein
