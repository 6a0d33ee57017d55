// Input records against the chain's declared input type.
#pragma once
#include <string>

#include "input_reader.hpp"
#include "skein/chain.hpp"

namespace skein {

// Why the line is not a record the chain accepts ("line 3: …"), or "" when it is.
std::string record_problem(const Chain& chain, const InputLine& line);

// --strict: reads the whole file first; the first problem is a ConfigError at its line.
void check_input_strictly(const Chain& chain, const std::string& path);

}  // namespace skein
