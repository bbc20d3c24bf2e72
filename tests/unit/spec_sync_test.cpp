// The SQL install and the docs carry data generated from the C++ backend specs; they must match. The
// install is its section files joined in the listed order, the same bytes for psql and the binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "config/spec_export.h"
#include "backends/registry.h"
#include "config/specs.h"
#include "pg/catalog.h"

namespace {
std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST(SpecSync, TheSqlInstallHasTheCurrentSpecRows) {
  EXPECT_EQ(read_text(std::string(RELAY_SOURCE_DIR) + "/sql/install/04_config_spec_rows.sql"), relay::spec_as_sql())
      << "sql/install/04_config_spec_rows.sql is stale: run scripts/regen.sh";
}

TEST(SpecSync, TheConfigReferenceIsCurrent) {
  EXPECT_EQ(read_text(std::string(RELAY_SOURCE_DIR) + "/docs/config-reference.md"), relay::spec_as_markdown())
      << "docs/config-reference.md is stale: run scripts/regen.sh";
}

// The man page's CONFIGURATION section (pgtrickle-relay man) is rendered from the same specs.
TEST(SpecSync, TheManPageListsEveryKeyOfEverySpec) {
  const std::string roff = relay::spec_as_roff();
  auto has_key = [&](std::string_view key) {
    return roff.find(".TP\n\\fB" + relay::roff_escape(key) + "\\fR (") != std::string::npos;
  };
  for (const auto& k : relay::kPipelineSpec.keys) EXPECT_TRUE(has_key(k.key)) << k.key;
  for (const auto* spec : relay::backend_specs()) {
    EXPECT_NE(roff.find(".PP\n\\fB" + relay::roff_escape(spec->name) + "\\fR"), std::string::npos) << spec->name;
    for (const auto& k : spec->keys) EXPECT_TRUE(has_key(k.key)) << spec->name << "." << k.key;
  }
}

TEST(SpecSync, RoffEscapeKeepsTextLiteral) {
  EXPECT_EQ(relay::roff_escape("--config a\\b"), "\\-\\-config a\\eb");
  EXPECT_EQ(relay::roff_escape(".SH no\n'request"), "\\&.SH no\n\\&'request");
}

TEST(SqlInstall, TheBinaryInstallsExactlyTheAssembledFile) {
  std::string assembled = read_text(std::string(RELAY_BUILD_DIR) + "/pgtrickle_relay.sql");
  ASSERT_FALSE(assembled.empty());
  EXPECT_EQ(assembled, std::string(relay::pg::install_script())) << "psql -f and pgtrickle-relay install would differ";
}

// Every section file is listed once in sql/install/files.cmake (a file left out would be silently
// missing from the install), and each stays small enough to read.
TEST(SqlInstall, EverySectionFileIsListedAndShort) {
  std::string list = read_text(std::string(RELAY_SOURCE_DIR) + "/sql/install/files.cmake");
  std::set<std::string> listed;
  std::regex entry(R"(sql/install/([0-9A-Za-z_]+\.sql))");
  for (auto it = std::sregex_iterator(list.begin(), list.end(), entry); it != std::sregex_iterator(); ++it)
    EXPECT_TRUE(listed.insert((*it)[1]).second) << (*it)[1] << " is listed twice";
  std::set<std::string> present;
  for (const auto& f : std::filesystem::directory_iterator(std::string(RELAY_SOURCE_DIR) + "/sql/install")) {
    if (f.path().extension() != ".sql") continue;
    present.insert(f.path().filename().string());
    std::string text = read_text(f.path().string());
    EXPECT_LT(std::count(text.begin(), text.end(), '\n'), 800) << f.path().filename() << ": split it into sections";
  }
  EXPECT_EQ(listed, present);
}

// A key both directions of a backend accept (a connection's URL, its credentials) means the same
// in both: declared once, so its type, secrecy and host-file and destination rules cannot drift;
// and the TLS trio is the same everywhere it is offered.
TEST(SpecFragments, KeysSharedByBothDirectionsOfABackendAreDeclaredOnce) {
  using relay::Role;
  auto same = [](const relay::KeySpec& a, const relay::KeySpec& b) {
    return a.type == b.type && a.secret == b.secret && a.host_file == b.host_file && a.destination == b.destination &&
           a.aliases == b.aliases;
  };
  int shared = 0;
  for (const auto* s : relay::backend_specs()) {
    if (s->role != Role::sink) continue;
    for (const auto* r : relay::backend_specs()) {
      if (r->role != Role::source || r->name != s->name) continue;
      for (const auto& ks : s->keys)
        for (const auto& kr : r->keys)
          if (ks.key == kr.key && (ks.key == "url" || ks.key.starts_with("tls_") || ks.secret || kr.secret)) {
            ++shared;
            EXPECT_TRUE(same(ks, kr) && ks.description == kr.description) << s->name << " key " << ks.key;
          }
    }
    for (const auto& k : s->keys)
      for (const auto& t : relay::kTlsClientKeys)
        if (k.key == t.key) {
          EXPECT_TRUE(same(k, t) && k.description == t.description) << s->name << " key " << k.key;
        }
  }
  EXPECT_GT(shared, 0);
}

// The backends' registry and the config library's spec list both come from one list
// (src/config/backend_list.h): the same backends, in the same order, each with its factory when built.
TEST(SpecFragments, TheRegistryListsEverySpecOnceInTheSpecsOrder) {
  auto specs = relay::backend_specs();
  auto entries = relay::compiled_backends();
  ASSERT_EQ(specs.size(), entries.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(entries[i].spec, specs[i]) << specs[i]->name;
    const auto& e = entries[i];
    EXPECT_TRUE(e.spec->role == relay::Role::source ? e.make_sink == nullptr : e.make_source == nullptr)
        << specs[i]->name << ": a factory of its own role only";
  }
}
