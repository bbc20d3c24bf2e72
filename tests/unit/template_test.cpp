#include <gtest/gtest.h>

#include "config/template.h"

using relay::Template;
using relay::TemplateVars;

namespace {
struct Vars : TemplateVars {
  bool column(std::string_view name, std::string& out) const override {
    if (name == "region") {
      out += "europe";
      return true;
    }
    return false;
  }
};
}  // namespace

TEST(Template, RendersTheVariablesOfSeed001) {
  auto t = Template::compile("pgtrickle.{stream_table}.{op}");
  ASSERT_TRUE(t);
  Vars v;
  v.stream_table = "orders";
  v.op = "insert";
  EXPECT_EQ(t->render(v), "pgtrickle.orders.insert");
  EXPECT_EQ(t->literal_prefix(), "pgtrickle.");
}

TEST(Template, RendersRowFieldsOfSeed000) {
  auto t = Template::compile("revenue.{{ region }}");
  ASSERT_TRUE(t);
  Vars v;
  EXPECT_EQ(t->render(v), "revenue.europe");
  EXPECT_TRUE(t->has_columns());
}

TEST(Template, RejectsUnknownVariablesWithTheValidOnes) {
  auto t = Template::compile("x.{table}");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("unknown variable {table}"), std::string::npos);
  EXPECT_NE(t.error().message.find("{stream_table}"), std::string::npos);
}

TEST(Template, RejectsUnclosedBraces) {
  EXPECT_FALSE(Template::compile("x.{op"));
  EXPECT_FALSE(Template::compile("x.{{ region"));
  EXPECT_FALSE(Template::compile("x.}"));
}
