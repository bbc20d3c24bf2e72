// The one rule for header values built from names and identities (util/header_value.h).
#include <gtest/gtest.h>

#include "util/header_value.h"
#include "util/strings.h"

using namespace relay;
using namespace std::string_literals;

TEST(HeaderValue, ControlCharactersAndPercentAreEncodedEverythingElseKept) {
  EXPECT_EQ(util::header_safe("orders:42:0"), "orders:42:0");
  EXPECT_EQ(util::header_safe("sales.\"v.orders\":1:0"), "sales.\"v.orders\":1:0");
  EXPECT_EQ(util::header_safe("orders\r\nAuthorization: x"), "orders%0D%0AAuthorization: x");
  EXPECT_EQ(util::header_safe("a\0b\tc\x1f" "d\x7f" "e%f"s), "a%00b%09c%1Fd%7Fe%25f");
  EXPECT_EQ(util::header_safe("caf\xc3\xa9 \x80"), "caf\xc3\xa9 \x80");  // bytes past ASCII are not controls
  EXPECT_EQ(util::header_safe(""), "");
}

TEST(HeaderValue, EveryByteFitsAHeaderAfterwardAndDecodesBack) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  std::string safe = util::header_safe(all);
  EXPECT_TRUE(util::fits_header(safe));
  std::string back;
  ASSERT_TRUE(util::percent_decode(safe, back));
  EXPECT_EQ(back, all) << "injective: two identities never share a header value";
  // A literal "%0A" and a line feed differ once encoded.
  EXPECT_NE(util::header_safe("a%0Ab"), util::header_safe("a\nb"));
}

TEST(HeaderValue, AValueWithNothingToEncodeIsNotCopied) {
  std::string value = "orders:7:0", buf;
  EXPECT_EQ(util::header_safe(value, buf).data(), value.data());
  std::string hostile = "t\n:7:0";
  std::string_view v = util::header_safe(hostile, buf);
  EXPECT_EQ(v, "t%0A:7:0");
  EXPECT_EQ(v.data(), buf.data());
  EXPECT_EQ(util::header_safe("50%", buf), "50%25");
}

TEST(HeaderValue, FitsHeaderRefusesEveryControlCharacter) {
  EXPECT_TRUE(util::fits_header("Bearer abc/+=%20"));
  EXPECT_TRUE(util::fits_header(""));
  for (char c : "\r\n\t\x01\x1f\x7f"s) EXPECT_FALSE(util::fits_header("a"s + c + "b")) << int(c);
  EXPECT_FALSE(util::fits_header("a\0b"s));
}
