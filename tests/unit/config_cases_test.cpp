// The config cases both normalisations must agree on: the relay's (src/config/normalize.cpp) here,
// the SQL install's (pgtrickle.relay_normalize_config) in tests/sql/config_cases.sql, from one file,
// tests/config/cases.json. Each config gives its canonical form, as the SQL install stores it (the
// relay's holds the same keys and values, and the defaults of those not given), or a problem
// whose sentence names each of `error_names`.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/pipeline_config.h"

using namespace relay;
using json = nlohmann::json;

namespace {

json cases() {
  std::ifstream in(std::string(RELAY_SOURCE_DIR) + "/tests/config/cases.json");
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

}  // namespace

TEST(ConfigCases, TheRelayNormalisesEachConfigAsTheSqlInstallDoes) {
  const json all = cases();
  ASSERT_GT(all.size(), 10u);
  for (const auto& c : all) {
    SCOPED_TRACE(c["case"].get<std::string>());
    std::vector<std::string> problems;
    const Direction dir = c["direction"] == "forward" ? Direction::forward : Direction::reverse;
    const json canonical = build_pipeline_config("p", dir, true, c["config"], "sql", problems).canonical;
    if (c.contains("canonical")) {
      ASSERT_TRUE(problems.empty()) << problems.front();
      // The SQL install's form, with the defaults the relay fills in.
      json expected = canonical;
      expected.merge_patch(c["canonical"]);
      EXPECT_EQ(canonical, expected) << "the relay's form holds what the SQL install's does";
    } else {
      ASSERT_FALSE(problems.empty()) << "accepted: " << canonical.dump();
      for (const auto& name : c["error_names"]) {
        bool named = false;
        for (const auto& p : problems) named = named || p.find(name.get<std::string>()) != std::string::npos;
        EXPECT_TRUE(named) << "no problem names " << name << "; problems:\n" << problems.front();
      }
    }
  }
}
