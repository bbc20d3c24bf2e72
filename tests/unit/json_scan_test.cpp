#include <gtest/gtest.h>

#include "util/json_scan.h"

namespace js = relay::json_scan;

TEST(JsonScan, KeepsNumbersExactlyAsWritten) {
  std::string out;
  js::append_minified(out, R"({"amount": 42.50, "big": 12345678901234567890.123456789, "e": 1E+3, "s": "a b"})");
  EXPECT_EQ(out, R"({"amount":42.50,"big":12345678901234567890.123456789,"e":1E+3,"s":"a b"})");
}

TEST(JsonScan, FindsFieldsAndUnescapesStrings) {
  std::string_view obj = R"({"id": 7, "naïve col": "a\"b\u00e9\n", "nested": {"id": 1}, "arr": [1, {"x": "}"}]})";
  std::string_view v;
  ASSERT_TRUE(js::field(obj, "id", v));
  EXPECT_EQ(v, "7");
  ASSERT_TRUE(js::field(obj, "naïve col", v));
  std::string text;
  js::append_text(text, v);
  EXPECT_EQ(text, "a\"bé\n");
  ASSERT_TRUE(js::field(obj, "arr", v));
  EXPECT_EQ(v, R"([1, {"x": "}"}])");
  EXPECT_FALSE(js::field(obj, "missing", v));
  ASSERT_TRUE(js::field(obj, "nested", v));
  EXPECT_EQ(v, R"({"id": 1})");
}

TEST(JsonScan, IteratesArrayElements) {
  std::vector<std::string> got;
  EXPECT_TRUE(js::each_element(R"([ {"a": [1,2]}, "x,y", 3 , null ])", [&](std::string_view e) { got.emplace_back(e); }));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], R"({"a": [1,2]})");
  EXPECT_EQ(got[1], R"("x,y")");
  EXPECT_EQ(got[3], "null");
  EXPECT_TRUE(js::each_element("[]", [&](std::string_view) { ADD_FAILURE(); }));
}

TEST(JsonScan, RejectsMalformedInputWithoutCrashing) {
  for (std::string_view bad : {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":}", "\"unterminated", "01x", "[1 2]", "tru", "{,}",
                               "{\"a\":1,}", "\"\\u12\"", "[[[[[[[[[[", "}"}) {
    EXPECT_FALSE(js::valid(bad)) << bad;
  }
  std::string deep(100000, '[');
  EXPECT_FALSE(js::valid(deep));
  for (std::string_view good : {"{}", "[]", "0", "-1.5e-3", "\"\"", "{\"a\":[{},[],\"\\\"\"]}", " true "}) EXPECT_TRUE(js::valid(good)) << good;
  std::string text;
  js::append_text(text, R"("bad \u12zz escape")");  // no crash, best effort
}

TEST(JsonScan, NumbersAreCheckedAgainstTheRangeOfPostgresNumeric) {
  // Each case as PostgreSQL 15 answers '[<number>]'::jsonb.
  for (std::string_view fits : {"1e131071", "123e131069", "1.0e131071", "0.1e131072", "1e-16383", "0.01e-16381", "0e200000",
                                "-1e131071", "[1, 2.5, -0.0]", R"({"s": "1e999999 in a string", "n": 3})"})
    EXPECT_TRUE(js::fits_numeric(fits)) << fits;
  for (std::string_view overflows : {"1e131072", "1e200000", "10e131071", "0.0001e131076", "1e-16384", "1.5e-16383",
                                     "0e-20000", "0.0e-16383", "-1e99999999999999999999", R"({"a": [1, {"b": 1E+131072}]})"})
    EXPECT_FALSE(js::fits_numeric(overflows)) << overflows;
}
