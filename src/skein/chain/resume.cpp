#include "resume.hpp"

#include <fstream>

namespace skein {

Json resumable_run(const std::filesystem::path& dir, const Chain& chain, const RunOptions& options) {
  const auto path = dir / "run.json";
  if (!std::filesystem::exists(path)) return nullptr;
  Json saved;
  try {
    saved = Json::parse(std::ifstream(path));
  } catch (const Json::exception& e) {
    throw ConfigError({path.string(), 0}, std::string("cannot resume: run.json is unreadable: ") + e.what());
  }
  if (saved.value("file_sha256", "") != chain.file_sha256 || saved.value("chain", "") != chain.name)
    throw ConfigError({chain.file, 0}, "cannot resume " + dir.string() +
                                           ": the chain file changed since that run started; run without "
                                           "--resume into a new folder");
  if (saved.value("input", "") != options.input_path)
    throw ConfigError({chain.file, 0}, "cannot resume " + dir.string() + ": that run read '" +
                                           saved.value("input", "") + "', not '" + options.input_path + "'");
  if (saved.value("status", "") == to_string(ChainStatus::done)) return saved;
  return saved.contains("resume") ? saved : Json();
}

}  // namespace skein
