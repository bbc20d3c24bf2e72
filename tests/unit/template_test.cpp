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
  auto t = Template::compile("x.{tablename}");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("unknown variable {tablename}"), std::string::npos);
  EXPECT_NE(t.error().message.find("{stream_table}"), std::string::npos);
  EXPECT_NE(t.error().message.find("{table}"), std::string::npos);
}

TEST(Template, SchemaAndTableNameTheCapturedTable) {
  auto t = Template::compile("cdc.{schema}.{table}.{op}");
  ASSERT_TRUE(t);
  Vars v;
  v.schema = "sales";
  v.table = "orders";
  v.op = "insert";
  EXPECT_EQ(t->render(v), "cdc.sales.orders.insert");
}

TEST(Template, RejectsUnclosedBraces) {
  EXPECT_FALSE(Template::compile("x.{op"));
  EXPECT_FALSE(Template::compile("x.{{ region"));
  EXPECT_FALSE(Template::compile("x.}"));
}

namespace {
struct Hostile : TemplateVars {
  std::string value;
  bool column(std::string_view, std::string& out) const override {
    out += value;
    return true;
  }
};
}  // namespace

TEST(Template, AUrlTemplateEncodesEachValueForItsPlaceInTheUrl) {
  auto t = Template::compile_url("https://hooks.example/in/{{ v }}?x={{ v }}#{{ v }}");
  ASSERT_TRUE(t);
  Hostile v;
  v.value = "../../admin?x=1&y=#f";
  EXPECT_EQ(t->render(v), "https://hooks.example/in/..%2F..%2Fadmin%3Fx%3D1%26y%3D%23f?x=..%2F..%2Fadmin%3Fx%3D1%26y%3D%23f#..%2F..%2Fadmin%3Fx%3D1%26y%3D%23f");
  v.value = "..";
  EXPECT_EQ(t->render(v), "https://hooks.example/in/%2E%2E?x=..#..") << "a segment of dots cannot climb";
  v.value = "order-17_v1.2~é";
  EXPECT_EQ(t->render(v), "https://hooks.example/in/order-17_v1.2~%C3%A9?x=order-17_v1.2~%C3%A9#order-17_v1.2~%C3%A9");
}

TEST(Template, TopicAndKeyTemplatesStayVerbatim) {
  auto t = Template::compile("orders/{{ v }}?{op}");
  ASSERT_TRUE(t);
  Hostile v;
  v.value = "a b/&c";
  v.op = "insert";
  EXPECT_EQ(t->render(v), "orders/a b/&c?insert");
}
