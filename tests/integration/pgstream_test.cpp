// postgres-stream's subscriptions end to end (seed 003): the seed's subscriptions, inserted as
// written, make the tables' writes into events of pgstream.events, and a pipeline with source
// {"type": "pgstream", "stream_id": 1} delivers a stream's events, exactly the seed's JSON, in
// commit order (a file here; Kafka and a webhook beside those sinks' tests); against the real
// PostgreSQL and relay, running as the least-privileged login.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "pgstream_seed.h"

using namespace relay::test;
using namespace relay::test::pgstream_seed;
using json = nlohmann::json;
using namespace std::chrono_literals;


TEST(Pgstream, TheSeedsSubscriptionsDeliverExactlyTheSeedsEventsToAFile) {
  TestDb db;
  seed_subscriptions(db);
  std::string out = work_dir() + "/pgstream-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "events-out", {{"source", {{"type", "pgstream"}, {"stream_id", 1}}}, {"sink", {{"type", "file"}, {"path", out}}}});
  // A second stream's events never reach this pipeline.
  db.exec("insert into pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, column_names) "
          "values ('all-orders', 2, 'INSERT', 'public', 'orders', array['id'])");
  RelayProcess relay(relay_args(db));
  seed_writes(db);
  ASSERT_TRUE(wait_until([&] { return json_lines(out).size() >= 2; }, 20s)) << relay.err();
  std::this_thread::sleep_for(500ms);  // nothing more comes
  expect_seed_events(json_lines(out));

  // Later writes follow in commit order; an update or a delete has no subscription here: no event.
  db.exec("update users set email = 'new@example.com' where id = 123");
  db.exec("delete from orders where id = 456");
  db.exec("insert into orders (id, user_id, total) values (457, 7, 10), (458, 8, 20)");
  ASSERT_TRUE(wait_until([&] { return json_lines(out).size() >= 4; }, 20s)) << relay.err();
  std::this_thread::sleep_for(500ms);
  auto lines = json_lines(out);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2]["new"]["id"], 457);
  EXPECT_EQ(lines[3]["new"]["id"], 458);
  EXPECT_EQ(lines[3]["group_id"], "8");
}

TEST(Pgstream, ATomlPipelineReadsAStreamAndBadSourcesAreRefusedWithWhatToWrite) {
  TestDb db;
  seed_subscriptions(db);
  std::string out = work_dir() + "/pgstream-toml-" + db.name() + ".jsonl";
  std::string toml = write_toml(db, "[[pipeline]]\nname = \"events-out\"\nsource = { type = \"pgstream\", stream_id = 1 }\n"
                                    "sink = { type = \"file\", path = \"" + out + "\" }\n");
  std::string output;
  ASSERT_EQ(run_command(shell_quote(relay_binary()) + " validate --config " + toml, output), 0) << output;
  RelayProcess relay({"--config", toml});
  seed_writes(db);
  ASSERT_TRUE(wait_until([&] { return json_lines(out).size() >= 2; }, 20s)) << relay.err();
  std::this_thread::sleep_for(300ms);
  expect_seed_events(json_lines(out));

  // Without a stream id, with one that is not a number, or as an inbox: the key at fault and what to write.
  std::string e = db.error_of(R"(SELECT pgtrickle.set_relay_outbox('bad', config => '{"source": {"type": "pgstream"}, "sink": {"type": "stdout"}}'))");
  EXPECT_NE(e.find("stream_id"), std::string::npos) << e;
  e = db.error_of(R"(SELECT pgtrickle.set_relay_outbox('bad', config => '{"source": {"type": "pgstream", "stream_id": "one"}, "sink": {"type": "stdout"}}'))");
  EXPECT_NE(e.find("stream_id"), std::string::npos) << e;
  e = db.error_of(R"(SELECT pgtrickle.set_relay_inbox('bad', config => '{"source": {"type": "pgstream", "stream_id": 1}, "sink": {"type": "pg-inbox", "inbox": "x"}}'))");
  EXPECT_NE(e.find("set_relay_outbox"), std::string::npos) << e;
  std::string bad = write_toml(db, "[[pipeline]]\nname = \"bad\"\nsource = { type = \"pgstream\", stream = 1 }\nsink = { type = \"stdout\" }\n");
  EXPECT_NE(run_command(shell_quote(relay_binary()) + " validate --config " + bad, output), 0);
  EXPECT_NE(output.find("stream_id"), std::string::npos) << output;
}

TEST(Pgstream, AStreamReadFromTheWalDeliversTheSameEventsAndKeepsTheWayItStartedWith) {
  TestDb db;
  seed_subscriptions(db);
  std::string url = replication_login_url(db);
  std::string out = work_dir() + "/pgstream-wal-" + db.name() + ".jsonl";
  json config = {{"source", {{"type", "pgstream"}, {"stream_id", 1}, {"read_from", "wal"}}}, {"sink", {{"type", "file"}, {"path", out}}}};
  set_outbox_pipeline(db, "events-out", config);
  // A second stream's events are not in this stream's publication.
  db.exec("insert into pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, column_names) "
          "values ('all-orders', 2, 'INSERT', 'public', 'orders', array['id'])");
  RelayProcess relay(relay_args(db));
  // What commits after the slot exists is sent: the writes come once it streams.
  ASSERT_TRUE(wait_until([&] {
    return db.number("SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
                     "WHERE s.database = current_database()") == 1;
  }, 20s)) << relay.err();
  EXPECT_EQ(db.value("SELECT pubname || ':' || pubviaroot FROM pg_publication"), "pgtrickle_pgstream_1:true");
  seed_writes(db);
  ASSERT_TRUE(wait_until([&] { return json_lines(out).size() >= 2; }, 20s)) << relay.err();
  std::this_thread::sleep_for(500ms);
  expect_seed_events(json_lines(out));
  db.exec("insert into orders (id, user_id, total) values (457, 7, 10), (458, 8, 20)");
  ASSERT_TRUE(wait_until([&] { return json_lines(out).size() >= 4; }, 20s)) << relay.err();
  // The slot moves past the events once the sink has them.
  std::string last = db.value("SELECT pg_current_wal_lsn()");
  ASSERT_TRUE(wait_until([&] {
    return db.value("SELECT confirmed_flush_lsn >= '" + last + "'::pg_lsn FROM pg_replication_slots WHERE database = current_database()") == "t";
  }, 20s)) << relay.err();

  // Read from the table instead, with the position of the WAL stored: refused, with what to do.
  config["source"]["read_from"] = "table";
  set_outbox_pipeline(db, "events-out", config);
  std::string error = wait_for_pipeline_error(relay, "events-out");
  EXPECT_NE(error.find("has read its stream from the WAL so far"), std::string::npos) << error;
  EXPECT_NE(error.find("delete_relay('events-out')"), std::string::npos) << error;
  // Deleted, the pipeline's slot goes with it; defined again, it reads the table from its start.
  db.exec("SELECT pgtrickle.delete_relay('events-out')");
  EXPECT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pg_replication_slots WHERE database = current_database()") == 0; }, 20s));
  std::string again = work_dir() + "/pgstream-wal-again-" + db.name() + ".jsonl";
  config["sink"]["path"] = again;
  set_outbox_pipeline(db, "events-out", config);
  ASSERT_TRUE(wait_until([&] { return json_lines(again).size() >= 4; }, 20s)) << relay.err();
}
