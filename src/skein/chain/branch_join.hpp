// Joining a branch back: the branch's last output for each record goes into the record's history
// under the branch's alias.
#pragma once
#include <vector>

#include "record.hpp"
#include "skein/chain.hpp"

namespace skein {

// Whether records can multiply in these nodes (explode, exec, native functions): then a join is a
// list for every record, whatever each record's count, so its shape does not depend on the data.
bool fans_out(const std::vector<Node>& nodes);

// The batch as branch `b` starts it: a copy of each record, with room for the keys b's nodes add.
std::vector<Record> branch_copy(const Branch& b, const std::vector<Record>& batch);

// Puts `b`'s last output for each record of `batch` (found among `results` by id) under b.join:
// the value, a list when the branch fans out, null when the branch dropped the record.
void join_branch(const Branch& b, const std::vector<Record>& results, std::vector<Record>& batch);

}  // namespace skein
