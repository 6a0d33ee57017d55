// A record in flight through a chain: its history and where it came from.
#pragma once
#include <string>
#include <vector>

#include "skein/chain.hpp"
#include "skein/json.hpp"

namespace skein {

struct Record {
  long long row_id = 0;
  size_t line = 0;  // input line (element) number
  Json history;     // {chain_input, row_id, <node>: <output>, …}
  std::string id;   // stable: the row id, then `.k` for the k-th record of each fan-out
};

// A history grows key by key, and an ordered object that outgrows its room copies every member
// (see object_with_room): histories are made with room for the keys their scope adds.

// The k-th of the n records an Apply makes of `from`: the last takes its history, the others a
// copy; numbered (a node that may fan out), each has the id `<id>.<k>`, else `from`'s id.
Record descendant(Record& from, size_t k, size_t n, bool numbered);
// `id` made the id of the k-th record of a fan-out: `<id>.<k>`.
void append_fan_out(std::string& id, size_t k);

// Frees the records' histories (util/json_dispose.hpp: for less than their destructors cost); the
// records stay, with null histories.
void dispose_histories(std::vector<Record>& records);

// How many keys `nodes` add to a record's history: one per node, one per branch of a parallel group.
size_t keys_added(const std::vector<Node>& nodes);

// How many keys the object `history` has room for (a copy of it is made with as much).
inline size_t room_of(const Json& history) { return history.get_ref<const Json::object_t&>().capacity(); }

}  // namespace skein
