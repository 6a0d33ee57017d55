// A record in flight through a chain: its history and where it came from.
#pragma once
#include <string>

#include "skein/json.hpp"

namespace skein {

struct Record {
  long long row_id = 0;
  size_t line = 0;  // input line (element) number
  Json history;     // {chain_input, row_id, <node>: <output>, …}
  std::string id;   // stable: the row id, then `.k` for the k-th record of each fan-out
};

}  // namespace skein
