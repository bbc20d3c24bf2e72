// The Grafana dashboard and the Prometheus alert rules in docs/ must use only metrics the relay
// serves, the dashboard must show every metric family, and the rules must load in Prometheus.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "metrics/metrics.h"

namespace {

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string repo_file(const std::string& relative) { return std::string(RELAY_SOURCE_DIR) + "/" + relative; }

std::set<std::string> names_in(const std::string& text) {
  static const std::regex name("pgtrickle_relay_[a-z0-9_]+");
  std::set<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), name), e; it != e; ++it) out.insert(it->str());
  return out;
}

// What /metrics serves once pipelines exist (one of them WAL-captured, one backfilling): every sample name, and the family of each # TYPE line.
struct Served {
  std::set<std::string> samples, families;
};

Served served() {
  relay::metrics::Registry registry;
  registry.pipeline("orders-to-nats")->delivered.inc();
  auto wal = registry.pipeline("orders-from-the-wal");  // a pipeline reading a replication slot
  wal->slot_lag_bytes.set(0);
  wal->slot_retained_bytes.set(4096);
  wal->slot_wal_status.store(0);  // reserved
  wal->slot_safe_wal_bytes.set(16777216);
  wal->slot_safe_wal_known.store(true);
  wal->set_tables({{"orders", 3, false}, {"sales.notes", 1, true}});  // a pipeline capturing many tables
  wal->streamed_transactions.set(1);  // a big transaction held until its commit
  wal->streamed_memory_bytes.set(1048576);
  wal->streamed_spilled_bytes.set(8388608);
  wal->streamed_oldest_seconds.set(12);
  auto backfilling = registry.pipeline("orders-backfill");  // a backfill under way
  backfilling->backfill_rows.inc(500);
  backfilling->backfill_rows_estimated.set(1000000);
  Served s;
  std::istringstream lines(registry.render());
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::string family = line.substr(7);
      s.families.insert(family.substr(0, family.find(' ')));
    } else if (!line.empty() && line[0] != '#') {
      s.samples.insert(line.substr(0, line.find_first_of("{ ")));
    }
  }
  return s;
}

void expect_served(const std::string& relative) {
  std::string text = read(repo_file(relative));
  ASSERT_FALSE(text.empty()) << relative << " is missing";
  auto used = names_in(text);
  EXPECT_FALSE(used.empty()) << relative << " uses no relay metric";
  auto s = served();
  for (const auto& n : used) EXPECT_TRUE(s.samples.count(n)) << relative << " uses " << n << ", which the relay does not serve";
}

std::string run(const std::string& cmd, int& status) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    status = -1;
    return out;
  }
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  status = pclose(p);
  return out;
}

}  // namespace

TEST(ObservabilityDocs, TheDashboardUsesOnlyServedMetrics) { expect_served("docs/grafana/pgtrickle-relay.json"); }

TEST(ObservabilityDocs, TheAlertRulesUseOnlyServedMetrics) { expect_served("docs/prometheus/alerts.yml"); }

TEST(ObservabilityDocs, TheDashboardShowsEveryMetricFamily) {
  auto used = names_in(read(repo_file("docs/grafana/pgtrickle-relay.json")));
  for (const auto& family : served().families) {
    bool shown = used.count(family) > 0;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) shown = shown || used.count(family + suffix) > 0;
    EXPECT_TRUE(shown) << family << " is served but not on docs/grafana/pgtrickle-relay.json";
  }
}

TEST(ObservabilityDocs, TheAlertRulesLoadAndFireInPromtool) {
  int status = 0;
  run("command -v promtool", status);
  if (status != 0) GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  // Quoted: the clone's path may hold spaces.
  std::string out = run("promtool check rules '" + repo_file("docs/prometheus/alerts.yml") + "'", status);
  EXPECT_EQ(status, 0) << out;
  out = run("promtool test rules '" + repo_file("tests/prometheus/alerts_test.yml") + "'", status);
  EXPECT_EQ(status, 0) << out;
}
