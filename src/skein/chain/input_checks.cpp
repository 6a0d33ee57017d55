#include "input_checks.hpp"

namespace skein {

std::string record_problem(const Chain& chain, const InputLine& line) {
  if (!line.record) return line.error;
  if (!chain.input) return "";
  const std::string reason = chain.input->why_invalid(*line.record);
  return reason.empty() ? ""
                        : "line " + std::to_string(line.line) + ": record does not match the input type: " + reason;
}

// --strict: the whole file is checked before anything runs.
void check_input_strictly(const Chain& chain, const std::string& path) {
  InputReader reader(path);
  while (auto line = reader.next())
    if (const std::string problem = record_problem(chain, *line); !problem.empty())
      throw ConfigError({path, int(line->line)}, problem);
}

}  // namespace skein
