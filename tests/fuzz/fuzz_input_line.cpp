// One JSONL input line checked against a chain's input type, and its error record written as
// `errors.jsonl` holds it.
#include "chain/input_checks.hpp"
#include "fuzz.hpp"
#include "util/parse_json.hpp"

namespace {

const skein::Chain& chain() {
  static const skein::Chain c = skein::parse_chain(R"(
chain: fuzz
types:
  Item:
    type: object
    properties:
      text: {type: string, minLength: 1, maxLength: 200}
      n: {type: integer, minimum: 0}
      tags: {type: array, items: {type: string, enum: [a, b, c]}, maxItems: 3}
      when: {type: [string, "null"], pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    required: [text]
    additionalProperties: false
input: Item
steps:
  - apply: short
    fn: filter
    where: chain_input.n < 10
)",
                                                   "fuzz/chain.yaml");
  return c;
}

// parse_json must give what Json::parse gives: the same value dumped the same, or the same error.
void same_as_json_parse(const std::string& text) {
  std::string fast, slow;
  try {
    fast = skein::parse_json(text).dump();
  } catch (const skein::Json::exception& e) {
    fast = std::string("error: ") + e.what();
  }
  try {
    slow = skein::Json::parse(text).dump();
  } catch (const skein::Json::exception& e) {
    slow = std::string("error: ") + e.what();
  }
  if (fast != slow) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = skein::fuzz::text(data, size);
  same_as_json_parse(text);
  const skein::InputLine line = skein::parse_input_line(text, 7);
  const std::string problem = skein::record_problem(chain(), line);
  if (!problem.empty()) {
    const skein::Json record{{"row_id", 7}, {"line", line.line}, {"raw", line.raw}, {"reason", problem}};
    (void)record.dump(-1, ' ', false, skein::Json::error_handler_t::replace);
  }
  return 0;
}
