#include "branch_join.hpp"

#include <map>

#include "apply_calls.hpp"

namespace skein {
namespace {

// The id of the batch record a branch record descends from ("3.1" comes from "3").
const std::string& origin_of(const std::string& id, const std::vector<Record>& batch) {
  for (const auto& rec : batch)
    if (id == rec.id || id.rfind(rec.id + ".", 0) == 0) return rec.id;
  return id;
}

}  // namespace

bool fans_out(const std::vector<Node>& nodes) {
  for (const auto& node : nodes) {
    if (const Apply* a = std::get_if<Apply>(&node); a && apply_fans_out(*a)) return true;
    if (const Branch* b = std::get_if<Branch>(&node); b && b->join && fans_out(b->steps)) return true;
    if (const Parallel* p = std::get_if<Parallel>(&node))
      for (const auto& br : p->branches)
        if (br.join && fans_out(br.steps)) return true;
  }
  return false;
}

std::vector<Record> branch_copy(const Branch& b, const std::vector<Record>& batch) {
  std::vector<Record> copy;
  copy.reserve(batch.size());
  const size_t added = keys_added(b.steps);
  for (const Record& r : batch)
    copy.push_back({r.row_id, r.line, copy_with_room(r.history, r.history.size() + added), r.id});
  return copy;
}

void join_branch(const Branch& b, const std::vector<Record>& results, std::vector<Record>& batch) {
  const std::vector<std::string> keys = history_keys(b.steps.back());
  if (keys.empty()) return;
  std::map<std::string, std::vector<const Json*>> by_origin;  // a record's id -> the branch's outputs for it
  for (const auto& r : results)
    if (r.history.contains(keys[0])) by_origin[origin_of(r.id, batch)].push_back(&r.history.at(keys[0]));
  const bool as_list = fans_out(b.steps);
  for (auto& rec : batch) {
    auto it = by_origin.find(rec.id);
    if (it == by_origin.end())
      rec.history[*b.join] = nullptr;
    else if (!as_list)
      rec.history[*b.join] = *it->second[0];
    else {
      Json list = Json::array();
      for (const Json* v : it->second) list.push_back(*v);
      rec.history[*b.join] = std::move(list);
    }
  }
}

}  // namespace skein
