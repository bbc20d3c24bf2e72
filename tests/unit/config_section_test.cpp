// Backends read their config through ConfigSection: defaults come from the spec (declared once),
// and reading a key the spec does not declare is refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "config/config_section.h"
#include "config/specs.h"

namespace {

using relay::ConfigSection;
using json = nlohmann::json;

TEST(ConfigSection, AnAbsentKeyHasTheSpecsDefaultAndAGivenOneWins) {
  const json given = {{"url", "http://example.test/hook"}, {"retry_max", 7}};
  ConfigSection s(relay::kWebhookSinkSpec, given);
  EXPECT_EQ(s.text("url"), "http://example.test/hook");
  EXPECT_EQ(s.integer("retry_max"), 7);
  EXPECT_EQ(s.text("method"), "POST") << "the spec's default";
  EXPECT_EQ(s.integer("timeout_ms"), 10000) << "the spec's default";
  EXPECT_FALSE(s.flag("batch"));
  EXPECT_TRUE(s.has("method")) << "a defaulted key counts as present";
  EXPECT_FALSE(s.has("signing_secret")) << "no value, no default";
  EXPECT_EQ(s.text("signing_secret"), "");
}

TEST(ConfigSection, ReadingAKeyTheSpecDoesNotDeclareIsRefusedNamingIt) {
  const json given = {{"url", "nats://127.0.0.1:4222"}, {"subject", "x"}, {"made_up", 1}};
  ConfigSection s(relay::kNatsSinkSpec, given);
  try {
    (void)s.integer("made_up");
    FAIL() << "an undeclared key was read";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("\"made_up\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nats sink"), std::string::npos) << e.what();
  }
}

// Every key a backend's code reads by name (s.text("key"), c.flag("key"), ...) is declared by a spec
// of the same backend folder, whether or not a test happens to reach that line.
TEST(ConfigSection, EveryKeyReadInABackendFolderIsDeclaredByItsSpecs) {
  const std::map<std::string, std::vector<const relay::BackendSpec*>> folders = {
      {"postgres", {&relay::kOutboxSourceSpec, &relay::kPgstreamSourceSpec, &relay::kWalSourceSpec, &relay::kPgInboxSinkSpec}},
      {"stream", {&relay::kStdoutSinkSpec, &relay::kFileSinkSpec, &relay::kStdinSourceSpec}},
      {"http", {&relay::kWebhookSinkSpec, &relay::kHttpSourceSpec}},
      {"nats", {&relay::kNatsSinkSpec, &relay::kNatsSourceSpec}},
      {"kafka", {&relay::kKafkaSinkSpec, &relay::kKafkaSourceSpec}},
      {"redis", {&relay::kRedisSinkSpec, &relay::kRedisSourceSpec}},
      {"rabbitmq", {&relay::kRabbitmqSinkSpec, &relay::kRabbitmqSourceSpec}},
      {"sqs", {&relay::kSqsSinkSpec, &relay::kSqsSourceSpec}},
  };
  const std::regex read(R"re(\b(?:text|integer|number|flag|value|has)\("([a-z_]+)"\))re");
  int reads = 0;
  for (const auto& [folder, specs] : folders) {
    std::set<std::string> declared;
    for (const auto* spec : specs)
      for (const auto& k : spec->keys) declared.emplace(k.key);
    const std::filesystem::path dir = std::filesystem::path(RELAY_SOURCE_DIR) / "src/backends" / folder;
    ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const auto name = entry.path().filename().string();
      if (entry.path().extension() != ".cpp" || name.ends_with("_spec.cpp")) continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      const std::string code = text.str();
      for (std::sregex_iterator it(code.begin(), code.end(), read), end; it != end; ++it) {
        ++reads;
        EXPECT_TRUE(declared.count((*it)[1].str())) << "src/backends/" << folder << "/" << name << " reads \""
                                                     << (*it)[1].str() << "\", which no spec of the folder declares";
      }
    }
  }
  EXPECT_GT(reads, 50) << "the scan found the backends' reads";
}

}  // namespace
