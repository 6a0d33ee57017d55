// Templates over a history: Jinja syntax, strict about undefined names.
#include <gtest/gtest.h>

#include "skein/expression.hpp"
#include "skein/template.hpp"

namespace skein {
namespace {

const Json kHistory = Json::parse(R"({"chain_input": {"review": "great", "tags": ["a", "b"]}, "row_id": 3,
                                      "summarise": {"actions": ["x", "y"], "ok": true}})");

std::string error_of(const std::string& source, const Json& vars = kHistory) {
  try {
    Template(source, "chain.yaml:9 `user`").render(vars);
  } catch (const TemplateError& e) {
    return e.what();
  }
  return "";
}

TEST(TemplateTest, RendersFieldsFiltersLoopsAndConditions) {
  EXPECT_EQ(Template("Review: {{ chain_input.review }}").render(kHistory), "Review: great");
  EXPECT_EQ(Template("{{ summarise.actions | tojson }}").render(kHistory), R"(["x", "y"])");
  EXPECT_EQ(Template("{% for t in chain_input.tags %}[{{ t }}]{% endfor %}").render(kHistory), "[a][b]");
  EXPECT_EQ(Template("{% if summarise.ok %}yes{% else %}no{% endif %}").render(kHistory), "yes");
  EXPECT_EQ(Template("{{ row_id + 1 }} {{ chain_input.review | upper }}").render(kHistory), "4 GREAT");
  EXPECT_EQ(Template("{{ chain_input.tags | length }}").render(kHistory), "2");
}

TEST(TemplateTest, UndefinedNameIsAnErrorQuotingTemplateAndKeys) {
  const std::string msg = error_of("Review: {{ chain_inptu.review }}");
  ASSERT_FALSE(msg.empty());
  EXPECT_NE(msg.find("Review: {{ chain_inptu.review }}"), std::string::npos) << msg;
  EXPECT_NE(msg.find("available: chain_input, row_id, summarise"), std::string::npos) << msg;
  EXPECT_NE(msg.find("chain.yaml:9"), std::string::npos) << msg;
}

TEST(TemplateTest, UndefinedFieldIsAnError) {
  const std::string msg = error_of("{{ chain_input.rating }}");
  EXPECT_FALSE(msg.empty());
  EXPECT_NE(msg.find("{{ chain_input.rating }}"), std::string::npos) << msg;
}

TEST(TemplateTest, UndefinedInsideLoopIsAnError) {
  EXPECT_FALSE(error_of("{% for t in chain_input.tags %}{{ nope }}{% endfor %}").empty());
}

TEST(TemplateTest, UndefinedFieldInsideExpressionsConditionsAndLoopsIsAnError) {
  for (const char* source :
       {R"({{ "Review: " ~ chain_input.revew }})", "{% if chain_input.flagg %}x{% endif %}",
        "{% for t in chain_input.tagz %}{{ t }}{% endfor %}", R"({% if summarise.missing == "a" %}x{% endif %})"}) {
    const std::string msg = error_of(source);
    EXPECT_NE(msg.find("undefined field"), std::string::npos) << source << " -> " << msg;
  }
}

TEST(TemplateTest, MethodCallsAndLoopVariablesAreNotFields) {
  EXPECT_EQ(Template("{% for k, v in summarise.items() %}{{ k }};{% endfor %}").render(kHistory), "actions;ok;");
  EXPECT_EQ(Template("{% set x = chain_input.review %}{{ x }}").render(kHistory), "great");
}

TEST(TemplateTest, NamesListsTheVariablesRead) {
  Template t("{% for a in summarise.actions %}{{ a }}{{ chain_input.review }}{% endfor %}{{ x | default('') }}");
  EXPECT_EQ(t.names(), (std::set<std::string>{"chain_input", "summarise"}));
}

TEST(TemplateTest, DefinedTestDoesNotTrip) {
  EXPECT_EQ(Template("{% if nope is defined %}a{% else %}b{% endif %}").render(kHistory), "b");
}

TEST(TemplateTest, SyntaxErrorIsReportedAtConstruction) {
  try {
    Template("{% for x in %}", "f.yaml:2");
    FAIL() << "expected TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("f.yaml:2"), std::string::npos) << e.what();
  }
}

TEST(TemplateTest, ConcurrentRendersAgree) {
  Template t("{{ chain_input.review }}-{{ row_id }}");
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 200; ++k)
        if (t.render(kHistory) != "great-3") ++bad;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// Plain substitutions skip the Jinja runtime; the text must be exactly what Jinja gives, for every
// kind of value (the fast path hands anything but strings, integers and booleans to Jinja).
TEST(TemplateTest, PlainSubstitutionsRenderExactlyAsJinja) {
  const Json v = Json::parse(R"({"a": {"b": "x y"}, "n": 3, "f": 0.5, "t": true, "o": {"k": [1, 2]}, "s": "q\n"})");
  EXPECT_EQ(Template("a\n").render(v), "a");  // one trailing newline is dropped, as Jinja does
  EXPECT_EQ(Template("a\n\n").render(v), "a\n");
  EXPECT_EQ(Template("  {{a.b}} and {{ n }}\nend\n").render(v), "  x y and 3\nend");
  EXPECT_EQ(Template("{{ t }}|{{ s }}|{{ f }}").render(v), "True|q\n|0.5");
  EXPECT_EQ(Template("{{ a.b | upper }}").render(v), "X Y");
  EXPECT_THROW(Template("{{ a.c }}").render(v), TemplateError);
}

TEST(ExpressionPathTest, APlainPathIsItsValueAndAMissingOneIsAnError) {
  const Json v = Json::parse(R"({"a": {"b": [1, {"c": null}]}, "n": 3})");
  EXPECT_EQ(Expression("a.b").value(v), Json::parse(R"([1, {"c": null}])"));
  EXPECT_EQ(Expression(" n ").value(v), 3);
  EXPECT_EQ(Expression("n * 2").value(v), 6);
  EXPECT_THROW(Expression("a.x").value(v), TemplateError);
}

}  // namespace
}  // namespace skein
