// The SQL install and the docs carry data generated from the C++ backend specs; they must match.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/spec_export.h"

namespace {
std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST(SpecSync, TheSqlInstallHasTheCurrentSpecRows) {
  std::string sql = read(std::string(RELAY_SOURCE_DIR) + "/sql/pgtrickle_relay.sql");
  std::string begin = "-- BEGIN GENERATED CONFIG SPEC\n", end = "-- END GENERATED CONFIG SPEC";
  auto i = sql.find(begin), j = sql.find(end);
  ASSERT_NE(i, std::string::npos);
  ASSERT_NE(j, std::string::npos);
  EXPECT_EQ(sql.substr(i + begin.size(), j - i - begin.size()), relay::spec_as_sql())
      << "the spec rows of sql/pgtrickle_relay.sql are stale: run scripts/regen.sh";
}

TEST(SpecSync, TheConfigReferenceIsCurrent) {
  EXPECT_EQ(read(std::string(RELAY_SOURCE_DIR) + "/docs/config-reference.md"), relay::spec_as_markdown())
      << "docs/config-reference.md is stale: run scripts/regen.sh";
}
