#include "grammar.hpp"

#include <json-schema-to-grammar.h>

#include <cmath>
#include <map>
#include <mutex>
#include <vector>

namespace skein {
namespace {

struct NumberRange {
  double min, max;
};

bool bounded_number(const Json& s) {
  return s.is_object() && s.value("type", Json()) == "number" && s.contains("minimum") && s.contains("maximum") &&
         std::fabs(s["minimum"].get<double>()) < 1e15 && std::fabs(s["maximum"].get<double>()) < 1e15;
}

std::string placeholder(size_t k) { return "SKEINNUM" + std::to_string(k); }

// Replaces bounded numbers with constant placeholders, collecting their ranges.
void mark_numbers(Json& s, std::vector<NumberRange>& ranges) {
  if (bounded_number(s)) {
    ranges.push_back({s["minimum"].get<double>(), s["maximum"].get<double>()});
    s = Json{{"const", placeholder(ranges.size() - 1)}};
    return;
  }
  if (s.is_object() || s.is_array())
    for (auto& [k, v] : s.items()) mark_numbers(v, ranges);
}

// The GBNF expression llama.cpp builds for integers in [lo, hi] (its root rule, without `space`).
std::string int_range(long long lo, long long hi) {
  const std::string g =
      json_schema_to_grammar(common_json::parse(Json{{"type", "integer"}, {"minimum", lo}, {"maximum", hi}}.dump()));
  const size_t start = g.find("root ::= ") + 9;
  std::string expr = g.substr(start, g.find('\n', start) - start);
  const std::string suffix = " space";
  if (expr.size() > suffix.size() && expr.compare(expr.size() - suffix.size(), suffix.size(), suffix) == 0)
    expr.resize(expr.size() - suffix.size());
  return expr;
}

std::string number_range(const NumberRange& r) {
  const long long lo = (long long)std::floor(r.min), hi = (long long)std::floor(r.max);
  const std::string fraction = "(\".\" [0-9] [0-9]? [0-9]? [0-9]?)?";
  if (lo > hi) return int_range(lo, lo);
  if (double(hi) != r.max || lo == hi) return "(" + int_range(lo, hi) + " " + fraction + ")";
  // An integral maximum takes no fraction: [lo, hi-1] + fraction | hi
  return "((" + int_range(lo, hi - 1) + " " + fraction + ") | (" + int_range(hi, hi) + "))";
}

}  // namespace

bool pattern_to_grammar_ok(const std::string& pattern) {
  static std::mutex mu;
  static std::map<std::string, bool> known;
  std::lock_guard l(mu);
  if (auto it = known.find(pattern); it != known.end()) return it->second;
  bool ok = false;
  try {  // a pattern it cannot build becomes the `string` primitive
    const std::string g =
        json_schema_to_grammar(common_json::parse(Json{{"type", "string"}, {"pattern", pattern}}.dump()));
    ok = g.rfind("string ::=", 0) != 0 && g.find("\nstring ::=") == std::string::npos;
  } catch (const std::exception&) {
  }
  return known[pattern] = ok;
}

std::string schema_to_grammar(const Json& schema) {
  Json marked = schema;
  std::vector<NumberRange> ranges;
  mark_numbers(marked, ranges);
  std::string gbnf = json_schema_to_grammar(common_json::parse(marked.dump()));
  for (size_t k = 0; k < ranges.size(); ++k) {
    const std::string literal = "\"\\\"" + placeholder(k) + "\\\"\"";
    const std::string expr = number_range(ranges[k]);
    for (size_t at = gbnf.find(literal); at != std::string::npos; at = gbnf.find(literal, at + expr.size()))
      gbnf.replace(at, literal.size(), expr);
  }
  return gbnf;
}

}  // namespace skein
