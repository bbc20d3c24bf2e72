// Running the relay: hot reload, ownership and takeover, health and metrics, bad input, the
// PostgreSQL inbox sink, and the install and validate commands.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string file_pipeline(const std::string& name, const std::string& table, const std::string& path, const std::string& extra = "") {
  return "SELECT pgtrickle.set_relay_outbox('" + name + "', config => '{\"stream_table\": \"" + table +
         "\", \"sink_type\": \"file\", \"path\": \"" + path + "\"" + extra + "}'::jsonb)";
}

}  // namespace

TEST(Operations, PipelinesAddedDisabledReenabledAndDeletedWhileRunning) {
  TestDb db;
  std::string a = work_dir() + "/hot-a-" + db.name(), b = work_dir() + "/hot-b-" + db.name();
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  RelayProcess relay(relay_args(db));
  ASSERT_GT(relay.admin_port(), 0) << relay.err();

  db.exec(file_pipeline("p-a", "t", a));  // added while running: picked up by LISTEN/NOTIFY
  db.exec("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(wait_until([&] { return read_lines(a).size() == 1; }, 10s)) << relay.err();

  db.exec("SELECT pgtrickle.disable_relay('p-a')");
  ASSERT_TRUE(wait_until([&] { return relay.err().find("Stopping a pipeline that was disabled") != std::string::npos; }, 10s));
  db.exec("INSERT INTO t VALUES (2)");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(read_lines(a).size(), 1u) << "a disabled pipeline sends nothing";

  db.exec("SELECT pgtrickle.enable_relay('p-a')");  // resumes from its stored position
  ASSERT_TRUE(wait_until([&] { return read_lines(a).size() == 2; }, 10s)) << relay.err();

  db.exec(file_pipeline("p-b", "t", b));  // a second pipeline on the same outbox reads it all
  ASSERT_TRUE(wait_until([&] { return read_lines(b).size() == 2; }, 10s)) << relay.err();

  db.exec("SELECT pgtrickle.delete_relay('p-a')");
  EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.relay_offsets WHERE pipeline = 'p-a'"), "0") << "offsets forgotten";
  db.exec(file_pipeline("p-a", "t", a + ".2"));  // re-created: starts from the beginning again
  ASSERT_TRUE(wait_until([&] { return read_lines(a + ".2").size() == 2; }, 10s)) << relay.err();

  // A config change restarts the pipeline with the new settings.
  db.exec(file_pipeline("p-b", "t", b, ", \"format\": \"csv\""));
  // (Catalog changes close together are read at once: the delete and re-creation of p-a above may
  // show as a restart of p-a, so wait for p-b's own.)
  ASSERT_TRUE(wait_until([&] { return relay.err().find("Restarting a pipeline whose configuration changed. pipeline=p-b") != std::string::npos; }, 10s));
  db.exec("INSERT INTO t VALUES (3)");
  ASSERT_TRUE(wait_until([&] {
    auto l = read_lines(b);
    return !l.empty() && l.back().rfind("t:", 0) == std::string::npos && l.back().find(",t,insert,3,") != std::string::npos;
  }, 10s)) << read_file(b) << relay.err();
}

TEST(Operations, OneOwnerPerPipelineAndAStandbyTakesOver) {
  TestDb db;
  std::string out = work_dir() + "/ha-" + db.name();
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec(file_pipeline("ha", "t", out));
  RelayProcess first(relay_args(db, "g1"));
  ASSERT_TRUE(wait_until([&] { return first.err().find("Took ownership") != std::string::npos; }, 10s)) << first.err();
  RelayProcess second(relay_args(db, "g1"));
  ASSERT_TRUE(wait_until([&] { return second.err().find("standing by") != std::string::npos; }, 10s)) << second.err();
  db.exec("INSERT INTO t SELECT g FROM generate_series(1, 100) g");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 100; }, 10s));
  EXPECT_EQ(second.err().find("Took ownership"), std::string::npos) << first.err();
  int port2 = second.admin_port();
  int status = 0;
  auto health = json::parse(http_get(port2, "/health", status));
  EXPECT_EQ(health["pipelines_owned"], 0);
  EXPECT_EQ(health["pipelines"][0]["state"], "standby");

  first.kill9();
  first.wait(5s);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return second.err().find("Took ownership") != std::string::npos; }, 10s)) << second.err();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "takeover within 5 s";
  db.exec("INSERT INTO t SELECT g FROM generate_series(101, 150) g");
  EXPECT_EQ(wait_for_distinct_ids(out, 150, 10s).size(), 150u) << second.err();
  EXPECT_TRUE(wait_until([&] { return db.value("SELECT owner FROM pgtrickle.list_relay_configs() WHERE name = 'ha'").find(':') != std::string::npos; }, 10s));
}

TEST(Operations, HealthAndMetricsTellTheTruth) {
  TestDb db;
  std::string out = work_dir() + "/hm-" + db.name();
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec(file_pipeline("hm", "t", out));
  RelayProcess relay(relay_args(db));
  int port = relay.admin_port();
  ASSERT_GT(port, 0);
  db.exec("INSERT INTO t SELECT g FROM generate_series(1, 10) g");
  ASSERT_TRUE(wait_until([&] { return metric(port, "pgtrickle_relay_messages_delivered_total{pipeline=\"hm\"}") == 10; }, 10s)) << relay.err();
  EXPECT_EQ(metric(port, "pgtrickle_relay_pipelines_owned"), 1);
  EXPECT_EQ(metric(port, "pgtrickle_relay_delivery_duration_seconds_count{pipeline=\"hm\"}"), 10);
  int status = 0;
  auto health = json::parse(http_get(port, "/health", status));
  EXPECT_EQ(status, 200);
  EXPECT_EQ(health["status"], "healthy");
  EXPECT_EQ(health["pipelines_owned"], 1);
  EXPECT_GE(health["uptime_seconds"].get<int>(), 0);
  EXPECT_EQ(health["pipelines"][0]["name"], "hm");
  http_get(port, "/health/live", status);
  EXPECT_EQ(status, 200);
  http_get(port, "/health/ready", status);
  EXPECT_EQ(status, 200);

  // A pipeline whose sink keeps failing makes /health degraded while it lasts (its directory cannot
  // be created: a file is in the way).
  std::string in_the_way = work_dir() + "/hm-in-the-way-" + db.name();
  std::ofstream(in_the_way) << "x\n";
  db.exec(file_pipeline("broken", "t", in_the_way + "/no-such-dir/out.jsonl"));
  ASSERT_TRUE(wait_until([&] {
    http_get(port, "/health", status);
    return status == 503;
  }, 10s)) << relay.err();
  health = json::parse(http_get(port, "/health", status));
  EXPECT_EQ(health["status"], "degraded");
  bool found = false;
  for (auto& p : health["pipelines"])
    if (p["name"] == "broken") {
      found = true;
      EXPECT_EQ(p["state"], "retrying");
      EXPECT_NE(p["last_error"].get<std::string>().find(in_the_way + " is not a directory"), std::string::npos) << p.dump();
    }
  EXPECT_TRUE(found);
  db.exec("SELECT pgtrickle.delete_relay('broken')");
  ASSERT_TRUE(wait_until([&] {
    http_get(port, "/health", status);
    return status == 200;
  }, 10s));
}

TEST(Operations, UnreachableDatabaseIsRetriedAndReportedNotFatal) {
  RelayProcess relay({"--postgres-url", "postgresql://postgres@127.0.0.1:1/nowhere", "--metrics-addr", "127.0.0.1:0"});
  int port = relay.admin_port();
  ASSERT_GT(port, 0) << relay.err();
  ASSERT_TRUE(wait_until([&] { return relay.err().find("Cannot reach the database; retrying") != std::string::npos; }, 10s));
  EXPECT_NE(relay.err().find("cannot connect to PostgreSQL"), std::string::npos);
  int status = 0;
  auto health = json::parse(http_get(port, "/health", status));
  EXPECT_EQ(status, 503);
  EXPECT_EQ(health["database"], "unreachable");
  http_get(port, "/health/ready", status);
  EXPECT_EQ(status, 503);
  EXPECT_TRUE(relay.alive());
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(10s), 0);
}

TEST(Operations, UnreadablePayloadsGoToTheDeadLetterTableAndThePipelineGoesOn) {
  TestDb db;
  std::string out = work_dir() + "/dlq-" + db.name();
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("INSERT INTO t VALUES (1)");
  // A row of a shape no writer produces (as if written by a newer producer).
  db.exec("INSERT INTO pgtrickle.outbox_t (payload) VALUES ('{\"v\": 2, \"rows\": []}')");
  db.exec("INSERT INTO t VALUES (2)");
  db.exec(file_pipeline("dlq", "t", out));
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 2; }, 10s)) << relay.err();
  EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.relay_dead_letters WHERE pipeline = 'dlq'"), "1");
  EXPECT_NE(db.value("SELECT error FROM pgtrickle.relay_dead_letters").find("\"v\" is 2"), std::string::npos);
  EXPECT_EQ(db.value("SELECT payload->>'v' FROM pgtrickle.relay_dead_letters"), "2") << "nothing is lost";
}

TEST(Operations, HostileTableNamesWork) {
  TestDb db;
  std::string out = work_dir() + "/hostile-" + db.name();
  db.exec("CREATE SCHEMA \"Sales; DROP TABLE x\"");
  db.exec("CREATE TABLE \"Sales; DROP TABLE x\".\"Bestellungen ü \"\"quoted\"\"\" (id int PRIMARY KEY, \"naïve col\" text)");
  db.exec("SELECT pgtrickle.enable_outbox('\"Sales; DROP TABLE x\".\"Bestellungen ü \"\"quoted\"\"\"')");
  db.exec("SELECT pgtrickle.set_relay_outbox('we''ird pipeline ✓', config => jsonb_build_object('stream_table', "
          "'\"Sales; DROP TABLE x\".\"Bestellungen ü \"\"quoted\"\"\"', 'sink_type', 'file', 'path', '" + out + "'))");
  db.exec("INSERT INTO \"Sales; DROP TABLE x\".\"Bestellungen ü \"\"quoted\"\"\" VALUES (1, 'a''b')");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 1; }, 10s)) << relay.err();
  auto m = json::parse(read_lines(out)[0]);
  EXPECT_EQ(m["payload"]["naïve col"], "a'b");
  EXPECT_EQ(m["stream_table"], "Bestellungen ü \"quoted\"");
}

TEST(Operations, ForwardIntoAPostgresInboxSkipsDuplicates) {
  TestDb db;
  TestDb remote;
  db.exec("CREATE TABLE payments (id int PRIMARY KEY, customer_id int, amount numeric)");
  db.exec("SELECT pgtrickle.enable_outbox('payments')");
  db.exec("SELECT pgtrickle.set_relay_outbox('payments-to-remote', config => '{\"stream_table\": \"payments\", "
          "\"sink_type\": \"pg-inbox\", \"postgres_url\": \"" + remote.relay_url() + "\", \"inbox_name\": \"payment_events\", "
          "\"key\": \"customer_id\"}'::jsonb)");
  db.exec("INSERT INTO payments VALUES (1, 10, 5.5), (2, 10, 4.5), (3, 20, 1)");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return remote.error_of("SELECT 1 FROM pgtrickle.inbox_payment_events") == "" &&
                                      remote.number("SELECT count(*) FROM pgtrickle.inbox_payment_events") == 3; }, 15s)) << relay.err();
  EXPECT_NE(relay.err().find("Created the missing inbox"), std::string::npos);
  EXPECT_EQ(remote.value("SELECT sum((payload->>'amount')::numeric) FROM pgtrickle.inbox_payment_events "
                         "WHERE processed = false AND aggregate_id = '10'"), "10.0");
  EXPECT_EQ(remote.value("SELECT event_type FROM pgtrickle.inbox_payment_events LIMIT 1"), "payments.insert");
  // Replaying the same outbox rows (a position reset) inserts nothing new: duplicates skipped.
  relay.signal(SIGTERM);
  relay.wait(10s);
  db.exec("DELETE FROM pgtrickle.relay_offsets");
  RelayProcess again(relay_args(db));
  int port = again.admin_port();
  ASSERT_TRUE(wait_until([&] { return metric(port, "pgtrickle_relay_dedup_skipped_total{pipeline=\"payments-to-remote\"}") == 3; }, 15s)) << again.err();
  EXPECT_EQ(remote.value("SELECT count(*) FROM pgtrickle.inbox_payment_events"), "3");
}

TEST(Operations, InstallAndValidateCommands) {
  TestDb db(false);
  std::string output;
  ASSERT_EQ(run_command(shell_quote(relay_binary()) + " install --postgres-url '" + db.url() + "'", output), 0) << output;
  EXPECT_NE(output.find("Installed the pgtrickle-relay SQL"), std::string::npos);
  ASSERT_EQ(run_command(shell_quote(relay_binary()) + " install --postgres-url '" + db.url() + "'", output), 0) << "idempotent: " << output;

  // The catalog: a row written behind the setters' back is still checked.
  db.exec("INSERT INTO pgtrickle.relay_outbox_config (name, enabled, config) VALUES ('raw', true, "
          "'{\"source\": {\"type\": \"outbox\", \"stream_table\": \"t\"}, \"sink\": {\"type\": \"file\"}}')");
  EXPECT_EQ(run_command(shell_quote(relay_binary()) + " validate --postgres-url '" + db.url() + "'", output), 1);
  EXPECT_NE(output.find("missing required key \"path\""), std::string::npos) << output;

  std::string toml = work_dir() + "/bad-" + db.name() + ".toml";
  std::ofstream(toml) << "[[pipeline]]\nname = \"x\"\nsource = { type = \"outbox\", stream_table = \"t\" }\n"
                         "sink = { type = \"nats\", url = \"nats://localhost:4222\", subject = \"orders.>\" }\n";
  EXPECT_EQ(run_command(shell_quote(relay_binary()) + " validate --config " + toml, output), 1);
  EXPECT_NE(output.find("use a template such as \"orders.{op}\""), std::string::npos) << output;
  std::ofstream(toml) << "[global\n";
  EXPECT_EQ(run_command(shell_quote(relay_binary()) + " validate --config " + toml, output), 1);
  EXPECT_NE(output.find("malformed TOML"), std::string::npos) << output;
  EXPECT_EQ(run_command(shell_quote(relay_binary()) + " --config " + toml, output), 2) << "run refuses a broken file";
}

TEST(Operations, APipelineWaitingForItsOutboxStartsOnceItIsEnabled) {
  TestDb db;
  std::string out = work_dir() + "/late-" + db.name();
  db.exec("CREATE TABLE late (id int PRIMARY KEY)");
  db.exec(file_pipeline("late", "late", out));  // the outbox is not enabled yet
  RelayProcess relay(relay_args(db));
  int port = relay.admin_port();
  int status = 0;
  ASSERT_TRUE(wait_until([&] {
    auto body = http_get(port, "/health", status);
    return status == 503 && body.find("enable_outbox") != std::string::npos;
  }, 10s)) << relay.err();
  db.exec("SELECT pgtrickle.enable_outbox('late')");
  db.exec("INSERT INTO late VALUES (1)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 1; }, 20s)) << relay.err();
}

TEST(Operations, JsonLogsAreOneObjectPerLineWithStableFieldsAndNoSecrets) {
  TestDb db;
  std::string out = work_dir() + "/jl-" + db.name();
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec(file_pipeline("logged", "t", out));
  // The server trusts local connections, so the password is not needed; it must still never be printed.
  std::string url = db.relay_url();
  url.replace(url.find("@"), 1, ":s3cret-pw@");
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0", "--log-format", "json"});
  db.exec("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 1; }, 10s)) << relay.err();
  relay.signal(SIGTERM);
  relay.wait(10s);
  bool saw_pipeline_line = false;
  std::istringstream lines(relay.err());
  for (std::string line; std::getline(lines, line);) {
    auto j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    for (const char* key : {"ts", "level", "logger", "msg"}) EXPECT_TRUE(j.contains(key)) << key << " missing: " << line;
    if (j["logger"] == "pipeline.logged") {
      saw_pipeline_line = true;
      EXPECT_EQ(j["pipeline"], "logged") << line;
    }
  }
  EXPECT_TRUE(saw_pipeline_line) << relay.err();
  EXPECT_EQ(relay.err().find("s3cret-pw"), std::string::npos) << relay.err();
}
