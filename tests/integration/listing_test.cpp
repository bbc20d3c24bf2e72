// What operators read about pipelines: list_relay_configs() right after a change, the pipelines of
// a relay's TOML file beside the catalog's, a broken config file on /health, and counters that
// last as long as the pipeline.
#include <fstream>
#include <thread>

#include "fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string listed(TestDb& db, const std::string& name) {
  return db.value("SELECT coalesce((SELECT state || '/' || coalesce(owner, 'no owner') || '/' || origin FROM "
                  "pgtrickle.list_relay_configs() WHERE name = '" + name + "'), 'absent')");
}

}  // namespace

TEST(Listing, DisablingOrStoppingShowsAtOnceInTheListing) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "p", {{"stream_table", "t"}, {"sink_type", "stdout"}});
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return listed(db, "p").rfind("running/", 0) == 0; }, 15s)) << listed(db, "p") << relay.err();
  db.exec("SELECT pgtrickle.disable_relay('p')");
  EXPECT_EQ(listed(db, "p"), "disabled/no owner/sql");
  db.exec("SELECT pgtrickle.enable_relay('p')");
  ASSERT_TRUE(wait_until([&] { return listed(db, "p").rfind("running/", 0) == 0; }, 15s)) << listed(db, "p");
  relay.signal(SIGTERM);
  ASSERT_EQ(relay.wait(15s), 0) << relay.err();
  EXPECT_EQ(listed(db, "p"), "stopped/no owner/sql") << "a relay that stops says so, rather than showing an owner for 30 s";
}

TEST(Listing, PipelinesOfATomlFileAreListedAndTheCatalogFunctionsSayWhereToChangeThem) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  std::string toml = write_toml(db, "[[pipeline]]\nname = \"from-file\"\nsource = { type = \"outbox\", stream_table = \"t\" }\n"
                                    "sink = { type = \"stdout\" }\n");
  RelayProcess relay({"--config", toml});
  ASSERT_TRUE(wait_until([&] { return listed(db, "from-file").rfind("running/", 0) == 0; }, 15s)) << relay.err();
  EXPECT_NE(listed(db, "from-file").find("/file"), std::string::npos) << listed(db, "from-file");
  EXPECT_EQ(db.value("SELECT direction || ' ' || (config IS NULL) FROM pgtrickle.list_relay_configs() WHERE name = 'from-file'"), "forward true");
  std::string e = db.error_of("SELECT pgtrickle.disable_relay('from-file')");
  EXPECT_NE(e.find("defined in a relay's config file"), std::string::npos) << e;
}

TEST(Listing, ABrokenConfigFileShowsOnHealthUntilFixed) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  const std::string good = "[[pipeline]]\nname = \"f\"\nsource = { type = \"outbox\", stream_table = \"t\" }\nsink = { type = \"stdout\" }\n";
  std::string toml = write_toml(db, good);
  std::string original = read_file(toml);
  RelayProcess relay({"--config", toml});
  const int port = relay.admin_port();
  int status = 0;
  ASSERT_TRUE(wait_until([&] { return json::parse(http_get(port, "/health", status))["status"] == "healthy"; }, 15s)) << relay.err();
  std::this_thread::sleep_for(1100ms);  // a new modification time
  std::ofstream(toml, std::ios::app) << "\nnot = [toml\n";
  json h;
  ASSERT_TRUE(wait_until([&] {
    h = json::parse(http_get(port, "/health", status));
    return h.contains("config_error");
  }, 10s)) << relay.err();
  EXPECT_EQ(status, 503);
  EXPECT_EQ(h["status"], "degraded");
  EXPECT_NE(h["config_error"].get<std::string>().find(toml), std::string::npos) << h.dump();
  EXPECT_EQ(h["pipelines"][0]["state"], "running") << "the previous pipelines keep running";

  std::this_thread::sleep_for(1100ms);
  std::ofstream(toml, std::ios::trunc) << original;
  ASSERT_TRUE(wait_until([&] {
    h = json::parse(http_get(port, "/health", status));
    return !h.contains("config_error") && status == 200;
  }, 10s)) << h.dump();
}

TEST(Listing, CountersLastAsLongAsThePipelineExists) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "c", {{"stream_table", "t"}, {"sink_type", "stdout"}});
  RelayProcess relay(relay_args(db));
  const int port = relay.admin_port();
  const std::string delivered = "pgtrickle_relay_messages_delivered_total{pipeline=\"c\"}";
  db.exec("INSERT INTO t SELECT g FROM generate_series(1, 5) g");
  ASSERT_TRUE(wait_until([&] { return metric(port, delivered) == 5; }, 15s)) << relay.err();
  db.exec("SELECT pgtrickle.disable_relay('c')");
  ASSERT_TRUE(wait_until([&] { return metric(port, "pgtrickle_relay_pipeline_owned{pipeline=\"c\"}") == -1; }, 10s))
      << "a disabled pipeline has no owner to miss: no pipeline_owned series to alert on";
  EXPECT_EQ(metric(port, "pgtrickle_relay_consumer_lag{pipeline=\"c\"}"), -1);
  EXPECT_EQ(metric(port, delivered), 5) << "a disabled pipeline keeps its counters";
  db.exec("SELECT pgtrickle.enable_relay('c')");
  db.exec("INSERT INTO t SELECT g FROM generate_series(6, 7) g");
  ASSERT_TRUE(wait_until([&] { return metric(port, delivered) == 7; }, 15s)) << "counted on from 5: " << metric(port, delivered);
  db.exec("SELECT pgtrickle.delete_relay('c')");
  EXPECT_TRUE(wait_until([&] { return metric(port, delivered) == -1; }, 10s)) << "a deleted pipeline's series go";
}
