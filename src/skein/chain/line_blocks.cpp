#include "line_blocks.hpp"

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

void LineBlocks::write_to(RunWriter& writer) const {
  for (const Block& b : blocks_) writer.append(b.node, b.text, b.lines);
}

}  // namespace skein
