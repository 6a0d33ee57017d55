// Expressions evaluated on the JSON itself give exactly what the Jinja engine gives, or decline:
// every expression below, on histories of every JSON type (quirks included: numbers beyond 2^53,
// floats, nulls, an object key named like a built-in, bytes of non-ASCII text), is evaluated both
// ways; where the native side answers, the engine must have answered the same. And the common
// expressions must be answered natively, or the Apply chains lose their speed.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <limits>

#include "prompt/native_expression.hpp"
#include "skein/expression.hpp"
#include "skein/template.hpp"

namespace skein {
namespace {

const char* kExpressions[] = {
    "tag != \"b\"",
    "tag == 'b'",
    "chain_input.n > 2",
    "chain_input.n >= 3.0",
    "chain_input.f < 3",
    "chain_input.f <= chain_input.n",
    "score >= 0.5 and chain_input.flag",
    "not chain_input.flag",
    "chain_input.flag or tag",
    "tag and chain_input.n",
    "chain_input.zero or chain_input.empty",
    "chain_input.empty and 1",
    "not chain_input.empty",
    "not chain_input.none",
    "chain_input.none or 1",
    "chain_input.text | upper",
    "chain_input.text | lower",
    "chain_input.uni | upper",
    "chain_input.text | length",
    "chain_input.uni | length",
    "chain_input.tags | length",
    "chain_input.tags | count",
    "chain_input.obj | length",
    "chain_input.n | upper",
    "chain_input.text | trim",
    "chain_input.tags | first",
    "tag in chain_input.tags",
    "'z' in chain_input.tags",
    "tag not in ['a', 'c']",
    "chain_input.n in [1, 2, 3]",
    "'ell' in chain_input.text",
    "'k' in chain_input.obj",
    "1 in chain_input.obj",
    "tag in chain_input.n",
    "chain_input.tags in chain_input.empty",
    "chain_input.obj not in chain_input.tags",
    "[1] in []",
    "chain_input.inf > 0",
    "not chain_input.inf",
    "chain_input.inf or 1",
    "chain_input.inf",
    "row_id == -9223372036854775807",
    "chain_input.n + 1",
    "chain_input.n - 10",
    "chain_input.n * chain_input.f",
    "chain_input.n * 2 == 6",
    "chain_input.n / 2",
    "chain_input.n / 2 > 1",
    "chain_input.n % 2",
    "chain_input.n % 2 == 1",
    "chain_input.n % 0",
    "chain_input.n / 0 > 1",
    "chain_input.neg % 3",
    "chain_input.neg / 3 > -2",
    "-chain_input.n",
    "-chain_input.f",
    "-chain_input.flag",
    "tag + 'x'",
    "tag ~ 'y'",
    "tag ~ 1",
    "tag + 1",
    "1 == true",
    "chain_input.flag == 1",
    "chain_input.n == 3.0",
    "chain_input.f == 2",
    "chain_input.f != 2.5",
    "chain_input.big == 9007199254740992",
    "chain_input.big > 0",
    "chain_input.big",
    "chain_input.none == none",
    "chain_input.none",
    "chain_input.obj.items",
    "chain_input.obj['items']",
    "chain_input.obj.k",
    "chain_input.obj.k == 'v'",
    "chain_input.tags[0]",
    "chain_input.tags[-1]",
    "chain_input.tags[5]",
    "chain_input.text[0]",
    "tag < 'c'",
    "chain_input.flag < 2",
    "chain_input.tags == ['a', 'b', 'c']",
    "chain_input.tags + ['d']",
    "row_id",
    "row_id + 1",
    "score",
    "score * 2 == 1.5",
    "chain_input.f",
    "chain_input.tags",
    "chain_input.obj",
    "chain_input.missing",
    "missing",
    "missing or true",
    "true",
    "False",
    "none",
    "chain_input.n if chain_input.flag else 0",
    "chain_input.n > 2 and chain_input.missing == 1",
    "1 + 2 * 3",
    "(1 + 2) * 3",
    "7 // 2",
    "2 ** 3",
    "'a' * 3",
    "chain_input.n is defined",
    "chain_input.text.upper()",
};

const Json kHistories[] = {
    Json::parse(R"({"chain_input": {"text": "Hello World", "n": 3, "f": 2.5, "tags": ["a", "b", "c"],
                    "flag": true, "none": null, "obj": {"items": 1, "k": "v"}, "big": 9007199254740993,
                    "neg": -4, "zero": 0, "empty": "", "uni": "café Ünï"},
                    "row_id": 7, "tag": "b", "score": 0.75})"),
    Json::parse(R"({"chain_input": {"text": "", "n": 0, "f": -0.0, "tags": [1, "1", null, {"a": 1}, [1], 1.0],
                    "flag": false, "none": null, "obj": {}, "big": -9007199254740993,
                    "neg": -7, "zero": 0.0, "empty": [], "uni": "ÅÄÖ"},
                    "row_id": 0, "tag": 1, "score": 1e300})"),
    Json::parse(R"({"chain_input": {"text": "x", "n": 2.0, "f": 0.1, "tags": [], "flag": 1,
                    "none": 0, "obj": {"items": "i"}, "big": 18446744073709551615,
                    "neg": 5, "zero": false, "empty": {}, "uni": "a\nb\"c"},
                    "row_id": 1, "tag": true, "score": -1})"),
};

struct Outcome {
  bool ok = false;
  Json value;  // the value, or the truth as a bool
};

// The engine's answer; nullopt when the template does not even parse (Expression refuses such a
// source when it is made, so there is nothing to compare).
std::optional<Outcome> by_jinja(const std::string& source, const Json& vars, bool truth) {
  std::optional<Template> t;
  try {
    t.emplace(source);
  } catch (const TemplateError&) {
    return std::nullopt;
  }
  try {
    const std::string text = t->render(vars);
    return Outcome{true, truth ? Json(text == "1") : Json::parse(text)};
  } catch (const std::exception&) {
    return Outcome{};
  }
}

// Each history with a non-finite float (only C++ code can put one there; dumped, it is null).
std::vector<Json> histories() {
  std::vector<Json> out(std::begin(kHistories), std::end(kHistories));
  const double odd[] = {std::numeric_limits<double>::infinity(), std::nan(""),
                        -std::numeric_limits<double>::infinity()};
  for (size_t i = 0; i < out.size(); ++i) out[i]["chain_input"]["inf"] = odd[i % 3];
  return out;
}

TEST(NativeExpressionTest, EveryAnswerIsTheJinjaEnginesOwn) {
  int answered = 0, declined = 0;
  for (const char* e : kExpressions) {
    const auto native = NativeExpression::compile(e);
    if (!native) {
      declined += 2 * int(std::size(kHistories));
      continue;
    }
    for (const Json& h : histories()) {
      const auto value = by_jinja("{{ (" + std::string(e) + ") | tojson }}", h, false);
      if (const std::optional<Json> v = native->value(h); v && value) {
        ++answered;
        ASSERT_TRUE(value->ok) << e << " on " << h.dump() << ": natively " << v->dump() << ", an error in Jinja";
        EXPECT_EQ(v->dump(), value->value.dump()) << e << " on " << h.dump();
      } else {
        ++declined;
      }
      const auto truth = by_jinja("{% if " + std::string(e) + " %}1{% endif %}", h, true);
      if (const std::optional<bool> t = native->truthy(h); t && truth) {
        ++answered;
        ASSERT_TRUE(truth->ok) << e << " on " << h.dump() << ": natively " << *t << ", an error in Jinja";
        EXPECT_EQ(*t, truth->value.get<bool>()) << e << " on " << h.dump();
      } else {
        ++declined;
      }
    }
  }
  EXPECT_GT(answered, 250) << declined << " declined";  // the comparison is not vacuous
}

TEST(NativeExpressionTest, TheCommonExpressionsAreAnsweredNatively) {
  const Json& h = kHistories[0];
  for (const char* e : {"tag != \"b\"", "score >= 0.5 and chain_input.flag", "tag in chain_input.tags",
                        "not chain_input.flag", "chain_input.n % 2 == 1", "chain_input.obj.k == 'v'"}) {
    const auto native = NativeExpression::compile(e);
    ASSERT_TRUE(native) << e;
    EXPECT_TRUE(native->truthy(h)) << e;
  }
  for (const char* e :
       {"chain_input.text | upper", "chain_input.tags | length", "chain_input.n + 1", "tag ~ 'y'", "row_id * 2"}) {
    const auto native = NativeExpression::compile(e);
    ASSERT_TRUE(native) << e;
    EXPECT_TRUE(native->value(h)) << e;
  }
}

// upper / lower change a byte as the C locale's toupper / tolower do (the engine's rule): ASCII
// letters only, every other byte (those beyond ASCII included) as it was.
TEST(NativeExpressionTest, UpperAndLowerChangeEveryByteAsTheCLocaleDoes) {
  std::string every;
  for (int c = 0; c < 256; ++c) every += char(c);
  std::string up = every, low = every;
  for (char& c : up) c = char(std::toupper(static_cast<unsigned char>(c)));
  for (char& c : low) c = char(std::tolower(static_cast<unsigned char>(c)));
  const Json vars{{"s", every}};
  EXPECT_EQ(NativeExpression::compile("s | upper")->value(vars), std::optional<Json>(up));
  EXPECT_EQ(NativeExpression::compile("s | lower")->value(vars), std::optional<Json>(low));
}

TEST(NativeExpressionTest, AnExpressionOutsideTheSubsetIsNotCompiled) {
  for (const char* e : {"a if b else c", "x is defined", "x | default('y')", "x.upper()", "range(3)", "a[1:2]"})
    EXPECT_FALSE(NativeExpression::compile(e)) << e;
}

TEST(NativeExpressionTest, ErrorsStillComeFromTheEngine) {
  const Json& h = kHistories[0];
  EXPECT_THROW(Expression("chain_input.missing == 1").truthy(h), TemplateError);
  EXPECT_THROW(Expression("tag < 'c'").truthy(h), TemplateError);
  EXPECT_EQ(Expression("chain_input.text | upper").value(h), "HELLO WORLD");
  EXPECT_TRUE(Expression("chain_input.f < 3").truthy(h));
}

}  // namespace
}  // namespace skein
