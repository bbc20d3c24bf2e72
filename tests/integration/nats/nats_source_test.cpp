// NATS JetStream source beyond the contract: seed 001's reverse pipeline as written, the durable
// consumer created when missing and reused, filter_subject, redelivery after ack_wait of what a
// killed relay never acked, token authentication.
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "nats_servers.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct Out {
  std::string subject, body, id;
  json headers = json::object();
};

// Publishes with the official NATS client and waits for every PubAck.
void publish(const std::string& url, const std::vector<Out>& msgs) {
  static int n = 0;
  std::string file = work_dir() + "/nats-src-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".jsonl";
  {
    std::ofstream out(file);
    for (const auto& m : msgs) {
      json j = {{"subject", m.subject}, {"body", m.body}, {"headers", m.headers}};
      if (!m.id.empty()) j["id"] = m.id;
      out << j.dump() << "\n";
    }
  }
  run_node("nats.js", {"publish", url, file});
}

void fresh_stream(const std::string& url, const std::string& stream, const std::string& subjects) {
  run_node("nats.js", {"drop", url, stream});
  run_node("nats.js", {"add-stream", url, stream, subjects});
}

json consumer_info(const std::string& url, const std::string& stream, const std::string& consumer) {
  return json::parse(run_node("nats.js", {"consumer", url, stream, consumer}));
}

}  // namespace

// Seed 001, "Register a reverse pipeline (NATS → inbox)", with the test server's address.
TEST(NatsSource, TheSeedExampleFillsOrdersInboxFromTheCommandsStream) {
  TestDb db;
  fresh_stream(nats_url(), "commands", "commands.>");
  publish(nats_url(), {{"commands.orders.create", R"({"order_id": 1, "amount": 10.5})", "cmd-1",
                        {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}},
                       {"commands.orders.cancel", R"({"order_id": 1})", "cmd-2"},
                       {"commands.orders.create", R"({"order_id": 2})", ""}});
  db.exec(R"(SELECT pgtrickle.set_relay_inbox(
'nats-to-orders-inbox',
config => '{
"source_type": "nats",
"nats_url": ")" + nats_url() + R"(",
"nats_stream": "commands",
"nats_consumer": "relay-consumer",
"inbox_table": "orders_inbox"
}'::jsonb
))");
  db.exec("SELECT pgtrickle.enable_relay('nats-to-orders-inbox')");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] {
    return db.value("SELECT to_regclass('pgtrickle.orders_inbox') IS NOT NULL") == "t" &&
           db.number("SELECT count(*) FROM pgtrickle.orders_inbox") >= 3;
  }, 30s)) << relay.err();
  EXPECT_EQ(db.value("SELECT string_agg(event_id || ' ' || event_type || ' ' || source, ', ' ORDER BY event_id) FROM pgtrickle.orders_inbox"),
            "cmd-1 commands.orders.create nats:commands, cmd-2 commands.orders.cancel nats:commands, "
            "commands:3 commands.orders.create nats:commands")
      << "the identity is Nats-Msg-Id, else <stream>:<sequence>; the event type is the subject";
  EXPECT_EQ(db.value("SELECT payload->>'amount' FROM pgtrickle.orders_inbox WHERE event_id = 'cmd-1'"), "10.5");
  EXPECT_EQ(db.value("SELECT headers->>'traceparent' FROM pgtrickle.orders_inbox WHERE event_id = 'cmd-1'"),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.orders_inbox WHERE processed"), 0);
  // Every message was acknowledged after its commit: nothing waits at the server.
  EXPECT_TRUE(wait_until([&] {
    auto c = consumer_info(nats_url(), "commands", "relay-consumer");
    return c.value("num_ack_pending", -1) == 0 && c.value("num_pending", -1) == 0;
  }, 10s)) << consumer_info(nats_url(), "commands", "relay-consumer").dump();
}

TEST(NatsSource, TheConsumerIsCreatedWhenMissingThenReusedWhereItStopped) {
  TestDb db;
  std::string stream = "src_" + db.name();
  fresh_stream(nats_url(), stream, stream + ".>");
  set_inbox_pipeline(db, "from-nats", {{"source_type", "nats"}, {"nats_url", nats_url()}, {"nats_stream", stream},
                                       {"nats_consumer", "relay"}, {"nats_ack_wait_ms", 5000}, {"nats_max_deliver", 7},
                                       {"inbox_name", "cmds"}});
  std::vector<Out> first, second;
  for (int i = 1; i <= 10; ++i) first.push_back({stream + ".a", json{{"n", i}}.dump(), "m-" + std::to_string(i)});
  for (int i = 11; i <= 20; ++i) second.push_back({stream + ".a", json{{"n", i}}.dump(), "m-" + std::to_string(i)});
  publish(nats_url(), first);
  std::string created;
  {
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return db.value("SELECT to_regclass('pgtrickle.inbox_cmds') IS NOT NULL") == "t" &&
                                        db.number("SELECT count(*) FROM pgtrickle.inbox_cmds") == 10; }, 30s)) << relay.err();
    EXPECT_NE(relay.err().find("Created the JetStream consumer."), std::string::npos) << relay.err();
    auto c = consumer_info(nats_url(), stream, "relay");
    EXPECT_EQ(c["config"]["durable_name"], "relay");
    EXPECT_EQ(c["config"]["ack_policy"], "explicit");
    EXPECT_EQ(c["config"]["ack_wait"], 5000LL * 1000000) << "nanoseconds";
    EXPECT_EQ(c["config"]["max_deliver"], 7);
    EXPECT_FALSE(c["config"].contains("deliver_subject")) << "a pull consumer";
    created = c["created"].dump();
    relay.signal(SIGTERM);
    EXPECT_EQ(relay.wait(20s), 0) << relay.err();
  }
  publish(nats_url(), second);
  RelayProcess relay(relay_args(db));
  // The lag shows the ten waiting at the start, then nothing once they are in.
  EXPECT_TRUE(wait_until([&] { return pipeline_metric(relay, "pgtrickle_relay_consumer_lag", "from-nats") == 10; }, 5s)) << relay.err();
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.inbox_cmds") == 20; }, 30s)) << relay.err();
  EXPECT_TRUE(wait_until([&] { return pipeline_metric(relay, "pgtrickle_relay_consumer_lag", "from-nats") == 0; }, 15s));
  EXPECT_EQ(relay.err().find("Created the JetStream consumer."), std::string::npos) << "the durable consumer is reused";
  EXPECT_EQ(consumer_info(nats_url(), stream, "relay")["created"].dump(), created);
  // It went on where it stopped: the first ten were not delivered again.
  EXPECT_TRUE(wait_until([&] { return pipeline_metric(relay, "pgtrickle_relay_messages_consumed_total", "from-nats") == 10; }, 10s));
  EXPECT_EQ(pipeline_metric(relay, "pgtrickle_relay_dedup_skipped_total", "from-nats"), 0);
}

TEST(NatsSource, FilterSubjectOnlyTakesThatSubjectAndAConsumerFilteringOtherwiseIsRefused) {
  TestDb db;
  std::string stream = "flt_" + db.name();
  fresh_stream(nats_url(), stream, stream + ".>");
  set_inbox_pipeline(db, "orders-only", {{"source_type", "nats"}, {"nats_url", nats_url()}, {"nats_stream", stream},
                                         {"nats_consumer", "orders"}, {"nats_filter_subject", stream + ".orders.*"},
                                         {"inbox_name", "orders"}});
  // Payments first: had the filter let them through, they would land before the orders.
  publish(nats_url(), {{stream + ".payments.captured", R"({"p": 1})", "pay-1"},
                       {stream + ".payments.refunded", R"({"p": 2})", "pay-2"},
                       {stream + ".orders.created", R"({"o": 1})", "ord-1"},
                       {stream + ".orders.paid", R"({"o": 1})", "ord-2"}});
  {
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return db.value("SELECT to_regclass('pgtrickle.inbox_orders') IS NOT NULL") == "t" &&
                                        db.number("SELECT count(*) FROM pgtrickle.inbox_orders") >= 2; }, 30s)) << relay.err();
    EXPECT_EQ(db.value("SELECT string_agg(event_id, ',' ORDER BY event_id) FROM pgtrickle.inbox_orders"), "ord-1,ord-2");
    EXPECT_EQ(consumer_info(nats_url(), stream, "orders")["config"]["filter_subject"], stream + ".orders.*");
  }
  // The same consumer asked for another subject: refused with what to do, nothing consumed.
  set_inbox_pipeline(db, "orders-only", {{"source_type", "nats"}, {"nats_url", nats_url()}, {"nats_stream", stream},
                                         {"nats_consumer", "orders"}, {"nats_filter_subject", stream + ".payments.*"},
                                         {"inbox_name", "orders"}});
  RelayProcess relay(relay_args(db));
  std::string error = wait_for_pipeline_error(relay, "orders-only");
  EXPECT_NE(error.find("filters \"" + stream + ".orders.*\""), std::string::npos) << error;
  EXPECT_NE(error.find("filter_subject"), std::string::npos) << error;
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_orders"), 2);
}

TEST(NatsSource, WhatAKilledRelayNeverAckedComesBackAfterAckWaitAndLandsOnce) {
  TestDb db;
  std::string stream = "redo_" + db.name();
  fresh_stream(nats_url(), stream, stream + ".>");
  set_inbox_pipeline(db, "redo", {{"source_type", "nats"}, {"nats_url", nats_url()}, {"nats_stream", stream},
                                  {"nats_consumer", "relay"}, {"nats_ack_wait_ms", 1500}, {"inbox_name", "redo"},
                                  {"batch_size", 100}});
  std::vector<Out> msgs;
  for (int i = 1; i <= 30; ++i) msgs.push_back({stream + ".x", json{{"n", i}}.dump(), "r-" + std::to_string(i)});
  publish(nats_url(), msgs);
  {
    // Killed (-9) right after its first inbox commit, before acknowledging anything.
    RelayProcess crashing(relay_args(db), {"PGTRICKLE_RELAY_CRASH_AT=after_delivery"});
    EXPECT_EQ(crashing.wait(30s), 128 + 9) << crashing.err();
  }
  long long committed = db.number("SELECT count(*) FROM pgtrickle.inbox_redo");
  ASSERT_EQ(committed, 30) << "one batch held all thirty";
  auto before = consumer_info(nats_url(), stream, "relay");
  EXPECT_EQ(before["num_ack_pending"], 30) << "committed but never acknowledged: " << before.dump();

  RelayProcess relay(relay_args(db));
  // After ack_wait the server delivers them again; the inbox skips every one as a duplicate.
  ASSERT_TRUE(wait_until([&] { return pipeline_metric(relay, "pgtrickle_relay_dedup_skipped_total", "redo") == 30; }, 30s)) << relay.err();
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_redo"), 30);
  EXPECT_EQ(db.number("SELECT count(DISTINCT event_id) FROM pgtrickle.inbox_redo"), 30);
  EXPECT_TRUE(wait_until([&] { return consumer_info(nats_url(), stream, "relay").value("num_ack_pending", -1) == 0; }, 10s))
      << "acknowledged this time";
}

TEST(NatsSource, AGracefulStopNaksWhatItFetchedSoItComesBackAtOnceNotAfterAckWait) {
  TestDb db;
  std::string stream = "nak_" + db.name();
  fresh_stream(nats_url(), stream, stream + ".>");
  db.exec("SELECT pgtrickle.create_inbox('nak')");
  set_inbox_pipeline(db, "nak", {{"source_type", "nats"}, {"nats_url", nats_url()}, {"nats_stream", stream},
                                 {"nats_consumer", "relay"}, {"nats_ack_wait_ms", 60000}, {"inbox_name", "nak"},
                                 {"batch_size", 10}});
  std::vector<Out> msgs;
  for (int i = 1; i <= 50; ++i) msgs.push_back({stream + ".x", json{{"n", i}}.dump(), "n-" + std::to_string(i)});
  publish(nats_url(), msgs);
  // The inbox is locked: the relay cannot get its inbox ready (the INSERT it prepares waits for the
  // lock) while its source has fetched the first batch ahead.
  auto locker = relay::pg::Connection::open(db.url(), "locker");
  ASSERT_TRUE(locker);
  ASSERT_TRUE(locker->exec("BEGIN"));
  ASSERT_TRUE(locker->exec("LOCK TABLE pgtrickle.inbox_nak IN SHARE MODE"));
  {
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return consumer_info(nats_url(), stream, "relay").value("num_ack_pending", -1) == 10; }, 20s))
        << consumer_info(nats_url(), stream, "relay").dump() << relay.err();
    relay.signal(SIGTERM);
    std::this_thread::sleep_for(200ms);
    ASSERT_TRUE(locker->exec("ROLLBACK"));
    EXPECT_EQ(relay.wait(20s), 0) << relay.err();
  }
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_nak"), 0);
  // The batch fetched ahead was nak'ed on stop: the next relay gets it at once, not after ack_wait (60 s).
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.inbox_nak") == 50; }, 20s))
      << db.number("SELECT count(*) FROM pgtrickle.inbox_nak") << " rows\n" << relay.err();
  EXPECT_EQ(pipeline_metric(relay, "pgtrickle_relay_dedup_skipped_total", "nak"), 0);
}

TEST(NatsSource, TokenAuthenticationWithASecretFromTheEnvironment) {
  TestDb db;
  TokenNatsServer server(work_dir() + "/nats-src-auth-" + db.name(), 55900 + static_cast<int>(getpid() % 100), "s3cret-src");
  ASSERT_TRUE(server.started()) << server.output();
  std::string url = server.url();
  setenv("NATS_TOKEN", "s3cret-src", 1);
  run_node("nats.js", {"add-stream", url, "authed", "authed.>"});
  publish(url, {{"authed.in", R"({"ok": true})", "a-1"}});
  unsetenv("NATS_TOKEN");
  set_inbox_pipeline(db, "authed", {{"source_type", "nats"}, {"nats_url", url}, {"nats_stream", "authed"}, {"nats_consumer", "relay"},
                                    {"nats_token", "${ENV:TEST_NATS_SRC_TOKEN}"}, {"inbox_name", "authed"}});
  {
    RelayProcess relay(relay_args(db), {"TEST_NATS_SRC_TOKEN=s3cret-src", "PGTRICKLE_RELAY_SQL_SECRETS_ENV_PREFIX=TEST_NATS_"});
    ASSERT_TRUE(wait_until([&] { return db.value("SELECT to_regclass('pgtrickle.inbox_authed') IS NOT NULL") == "t" &&
                                        db.number("SELECT count(*) FROM pgtrickle.inbox_authed") == 1; }, 30s)) << relay.err();
    EXPECT_EQ(relay.err().find("s3cret-src"), std::string::npos) << "the token is never logged";
  }
  // A wrong token: the pipeline says so in /health.
  RelayProcess relay(relay_args(db), {"TEST_NATS_SRC_TOKEN=wrong", "PGTRICKLE_RELAY_SQL_SECRETS_ENV_PREFIX=TEST_NATS_"});
  std::string error = wait_for_pipeline_error(relay, "authed");
  EXPECT_NE(error.find("Authorization"), std::string::npos) << error;
  EXPECT_EQ(error.find("wrong"), std::string::npos) << error;
}

// A message the inbox refused (a CHECK the payload broke) is a dead letter, acknowledged at the
// server; once the inbox takes it (the constraint dropped), replay_dead_letters() puts it in with its
// identity and headers, as the stream gave it.
TEST(NatsSource, AMessageTheInboxRefusedIsSentAgainIntoItOnceItTakesIt) {
  TestDb db;
  std::string stream = "src_" + db.name();
  fresh_stream(nats_url(), stream, stream + ".>");
  db.exec("SELECT pgtrickle.create_inbox('cmds')");
  db.exec("ALTER TABLE pgtrickle.inbox_cmds ADD CONSTRAINT amount_positive CHECK ((payload->>'amount')::numeric > 0)");
  set_inbox_pipeline(db, "from-nats", {{"source_type", "nats"}, {"nats_url", nats_url()}, {"nats_stream", stream},
                                       {"nats_consumer", "relay"}, {"inbox_name", "cmds"}});
  publish(nats_url(), {{stream + ".pay", R"({"amount": 5})", "pay-1"},
                       {stream + ".pay", R"({"amount": -1})", "pay-2", {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}},
                       {stream + ".pay", R"({"amount": 7})", "pay-3"}});
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters") == 1 &&
                                      db.number("SELECT count(*) FROM pgtrickle.inbox_cmds") == 2; }, 30s)) << relay.err();
  const std::string id = db.value("SELECT id FROM pgtrickle.relay_dead_letters");
  EXPECT_NE(db.value("SELECT error FROM pgtrickle.relay_dead_letters").find("amount_positive"), std::string::npos);
  EXPECT_TRUE(wait_until([&] { return consumer_info(nats_url(), stream, "relay").value("num_ack_pending", -1) == 0; }, 10s))
      << "set aside, it is acknowledged: the stream does not send it again";

  // Asked for while the inbox still refuses it: kept, one more attempt.
  EXPECT_EQ(db.number("SELECT pgtrickle.replay_dead_letters('from-nats')"), 1);
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT attempts FROM pgtrickle.relay_dead_letters WHERE id = " + id) == 2; }, 15s))
      << relay.err();
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_cmds"), 2);

  db.exec("ALTER TABLE pgtrickle.inbox_cmds DROP CONSTRAINT amount_positive");
  EXPECT_EQ(db.number("SELECT pgtrickle.replay_dead_letters('from-nats', ARRAY[" + id + "])"), 1);
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters") == 0; }, 15s)) << relay.err();
  EXPECT_EQ(db.value("SELECT event_type || ' ' || source || ' ' || (payload->>'amount') || ' ' || (headers->>'traceparent') "
                     "FROM pgtrickle.inbox_cmds WHERE event_id = 'pay-2'"),
            stream + ".pay nats:" + stream + " -1 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_cmds"), 3);
}
