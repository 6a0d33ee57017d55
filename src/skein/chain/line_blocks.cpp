#include "line_blocks.hpp"

#include <algorithm>

namespace skein {

std::string_view output_line(JsonLine& line, long long row_id, const std::string& id, const Json& value) {
  // Spelled out rather than built as a Json object, which would copy the output.
  line.clear().raw("{\"row_id\":").integer(row_id).raw(",\"id\":").string(id).raw(",\"output\":").value(value);
  return line.raw("}\n").text();
}

std::string_view error_line(JsonLine& line, const ErrorRecord& e) {
  Json j{{"row_id", e.row_id}, {"node", e.node}};
  if (e.line) j["line"] = e.line;
  j["raw"] = e.raw;
  j["reason"] = e.reason;
  return line.clear().value(j).raw("\n").text();
}

void LineBlocks::add(const std::string& node, std::string_view line) {
  if (last_ >= blocks_.size() || blocks_[last_].node != node) last_ = index(node);
  add(last_, line);
}

void LineBlocks::add(size_t block, std::string_view line) {
  Block& b = blocks_[block];
  b.text += line;
  ++b.lines;
}

size_t LineBlocks::index(const std::string& node) {
  for (size_t i = 0; i < blocks_.size(); ++i)
    if (blocks_[i].node == node) return i;
  blocks_.push_back(Block{node, {}, 0});
  return blocks_.size() - 1;
}

bool LineBlocks::empty() const {
  return std::all_of(blocks_.begin(), blocks_.end(), [](const Block& b) { return b.lines == 0; });
}

LineBlocks LineBlocks::take() {
  LineBlocks next;
  next.blocks_.reserve(blocks_.size());
  for (const Block& b : blocks_) {
    next.blocks_.push_back({b.node, {}, 0});
    next.blocks_.back().text.reserve(b.text.size() + b.text.size() / 8);
  }
  std::swap(*this, next);
  return next;
}

void LineBlocks::write_to(RunWriter& writer) const {
  for (const Block& b : blocks_)
    if (b.lines > 0) writer.append(b.node, b.text, b.lines);
}

}  // namespace skein
