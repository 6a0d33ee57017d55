// Shared by the chain tests: a fresh temporary folder per test, a run of a chain over input text
// into <folder>/out, and reading JSONL artefacts back.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scratch.hpp"
#include "skein/chain.hpp"

namespace skein::test {

inline std::vector<Json> read_jsonl(const std::filesystem::path& p) {
  std::vector<Json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(Json::parse(line));
  return out;
}

// Every file of a run folder but run.json (it holds times) and logs, by relative path.
inline std::map<std::string, std::string> artefacts(const std::filesystem::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_directory() || e.path().filename() == "run.json" || e.path().extension() == ".log") continue;
    std::ifstream in(e.path(), std::ios::binary);
    out[std::filesystem::relative(e.path(), dir).string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return out;
}

class RunFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // In the process's scratch folder: a parameterised test's name holds a '/', whose parent
    // folder TearDown would leave behind in /tmp.
    dir_ = scratch_root() / (std::string(::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name()) +
                             "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Chain parse(const std::string& chain_text) { return parse_chain(chain_text, (dir_ / "chain.yaml").string()); }

  RunSummary run(const Chain& chain, const std::string& input, std::optional<int> batch_size = {}) {
    std::ofstream(dir_ / "in.jsonl") << input;
    RunOptions o;
    o.input_path = (dir_ / "in.jsonl").string();
    o.output_dir = (dir_ / "out").string();
    o.batch_size = batch_size;
    return run_chain(chain, o);
  }
  RunSummary run(const std::string& chain_text, const std::string& input) { return run(parse(chain_text), input); }

  std::filesystem::path dir_;
};

}  // namespace skein::test
