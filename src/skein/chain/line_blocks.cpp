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
  Block& b = block(node);
  b.text += line;
  ++b.lines;
}

LineBlocks::Block& LineBlocks::block(const std::string& node) {
  if (last_ < blocks_.size() && blocks_[last_].node == node) return blocks_[last_];
  for (last_ = 0; last_ < blocks_.size(); ++last_)
    if (blocks_[last_].node == node) return blocks_[last_];
  return blocks_.emplace_back(Block{node, {}, 0});
}

void LineBlocks::write_to(RunWriter& writer) const {
  for (const Block& b : blocks_) writer.append(b.node, b.text, b.lines);
}

}  // namespace skein
