#include "apply_stream.hpp"

#include <limits>
#include <optional>
#include <set>
#include <stdexcept>

#include "apply_calls.hpp"
#include "flatten.hpp"
#include "util/json_dispose.hpp"

namespace skein {
namespace {

constexpr size_t kNoBlock = std::numeric_limits<size_t>::max();

bool is_built_in_apply(const Node& node) {
  const Apply* a = std::get_if<Apply>(&node);
  return a && is_built_in(*a);
}

}  // namespace

size_t ApplyStream::start_in(const std::vector<Node>& steps) {
  size_t start = steps.size();
  while (start > 0 && is_built_in_apply(steps[start - 1])) --start;
  return start;
}

ApplyStream::ApplyStream(std::span<const Node> head, std::span<const Node> tail) : rows_block_(kNoBlock) {
  std::set<std::string> head_keys;
  for (const Node& node : head)
    for (std::string& key : history_keys(node)) head_keys.insert(std::move(key));
  for (const Node& node : tail) {
    const Apply& a = std::get<Apply>(node);
    if (!is_built_in(a)) throw std::logic_error("ApplyStream: '" + a.id + "' is not a built-in");
    stages_.push_back({&a, apply_fans_out(a), head_keys.count(a.id) > 0, kNoBlock, {}});
  }
}

size_t ApplyStream::run(std::vector<Record>& batch, const Out& out) {
  out_ = &out;
  rows_ = 0;
  rows_block_ = kNoBlock;  // the blocks are looked up again in `out.lines`, which may be another's
  for (Stage& s : stages_) {
    s.block = kNoBlock;
    s.errors.clear();  // (a batch that failed half-way left its own)
  }
  for (Record& r : batch) {
    record_ = &r;
    id_ = r.id;
    down(0, r.history);
    dispose(r.history);
  }
  for (Stage& s : stages_) {
    for (ErrorRecord& e : s.errors) out.errors.push_back(std::move(e));
    s.errors.clear();
  }
  out_ = nullptr;
  record_ = nullptr;
  return rows_;
}

// The record at `history` through stages_[stage] and the ones after it; `history` is as it came.
void ApplyStream::down(size_t stage, Json& history) {
  if (stage == stages_.size()) return row(history);
  Stage& s = stages_[stage];
  const Apply& a = *s.apply;
  ++out_->counts[stage]->in;
  std::optional<Json> one;  // filter (kept) and map: one output; explode: items
  Json::array_t items;
  try {
    if (a.kind == ApplyKind::filter) {
      if (!kept_by(a, history)) return;
      one = true;
    } else if (a.kind == ApplyKind::map) {
      one = mapped(a, history);
    } else {
      items = exploded(a, history);
    }
  } catch (const std::exception& e) {
    ++out_->counts[stage]->errors;
    s.errors.push_back({record_->row_id, a.id, record_->line, "", apply_failure(a, e.what())});
    return;
  }
  if (one) return output(stage, history, *one, 0);
  for (size_t k = 0; k < items.size(); ++k) output(stage, history, items[k], k);
}

// The k-th output of stages_[stage] (moved from `value`): its line, then the record it makes on down.
void ApplyStream::output(size_t stage, Json& history, Json& value, size_t k) {
  Stage& s = stages_[stage];
  ++out_->counts[stage]->out;
  const size_t id_size = id_.size();
  if (s.fans_out) append_fan_out(id_, k);
  add_line(s.block, s.apply->id, output_line(out_->line, record_->row_id, id_, value));
  then_down(stage, history, value);
  id_.resize(id_size);
}

// `value` (moved) as stages_[stage]'s key of `history` while the record goes on down; then the key
// is as it was.
void ApplyStream::then_down(size_t stage, Json& history, Json& value) {
  const std::string& key = stages_[stage].apply->id;
  auto& members = history.get_ref<Json::object_t&>();
  if (stages_[stage].replaces)
    if (const auto at = members.find(key); at != members.end()) {
      const auto i = at - members.begin();  // (an index: members may grow below)
      Json kept = std::exchange(at->second, std::move(value));
      down(stage + 1, history);
      Json& slot = (members.begin() + i)->second;
      dispose(slot);
      slot = std::move(kept);
      return;
    }
  // Node ids are unique and never chain_input or row_id (check_chain): the key is new
  members.emplace_back(key, std::move(value));
  down(stage + 1, history);
  dispose(members.back().second);
  members.pop_back();
}

void ApplyStream::row(const Json& history) {
  ++rows_;
  flattened_line(history, id_, out_->line);
  add_line(rows_block_, kFlattenedFile, out_->line.text());
}

void ApplyStream::add_line(size_t& block, const std::string& node, std::string_view line) {
  if (block == kNoBlock) block = out_->lines.index(node);
  out_->lines.add(block, line);
}

}  // namespace skein
