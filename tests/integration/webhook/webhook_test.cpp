// The webhook sink against a receiver of our own: seed 000's TOML example, what goes on the wire
// (identity, configured and application headers, signature, routing by URL template), retries and
// Retry-After, batched requests, and bad configuration.
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

#include "../fixture.h"
#include "util/digest.h"
#include "receiver.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string base(Receiver& r) { return "http://127.0.0.1:" + std::to_string(r.port()); }

TEST(Webhook, TheTomlExampleOfSeed000Runs) {
  Receiver receiver;
  TestDb db;
  db.exec("CREATE TABLE fraud_alerts (id int PRIMARY KEY, account text, score numeric)");
  db.exec("SELECT pgtrickle.enable_outbox('fraud_alerts')");
  std::string toml = work_dir() + "/webhook-" + db.name() + ".toml";
  {
    std::ofstream f(toml);
    f << "[global]\npostgres_url = \"" << db.relay_url() << "\"\nmetrics_bind = \"127.0.0.1:0\"\n\n"
      << "[[pipeline]]\nname = \"alerts-to-webhook\"\n"
      << "source = { type = \"outbox\", stream_table = \"fraud_alerts\" }\n"
      << "sink = { type = \"webhook\", url = \"" << base(receiver) << "/fraud\", method = \"POST\" }\n";
  }
  RelayProcess relay({"--config", toml});
  db.exec("INSERT INTO fraud_alerts VALUES (1, 'acc-1', 0.97), (2, 'acc-2', 0.91)");
  ASSERT_TRUE(wait_until([&] { return receiver.count_accepted("/fraud") >= 2; }, 15s)) << relay.err();
  auto got = receiver.accepted("/fraud");
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i].method, "POST");
    EXPECT_EQ(got[i].header("Content-Type"), "application/json");
    auto body = json::parse(got[i].body);
    EXPECT_EQ(body["stream_table"], "fraud_alerts");
    EXPECT_EQ(body["payload"]["id"], static_cast<int>(i + 1));
    EXPECT_EQ(got[i].header("Idempotency-Key"), body["dedup_key"].get<std::string>()) << "the dedup identity is the Idempotency-Key";
  }
}

TEST(Webhook, HeadersSignatureAndTheUrlTemplateAreOnTheWire) {
  Receiver receiver;
  TestDb db;
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  set_outbox_pipeline(db, "events", {{"outbox", "order_events"}, {"sink_type", "webhook"}, {"method", "PUT"},
                              {"url", base(receiver) + "/events/{op}"},
                              {"headers", {{"Authorization", "Bearer ${ENV:HOOK_TOKEN}"}, {"X-Custom-Header", "value"}}},
                              {"signing_secret", "${ENV:HOOK_SECRET}"}});
  db.exec("SELECT pgtrickle.outbox_publish('order_events', '{\"order_id\": 17}', "
          "'{\"traceparent\": \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\", \"Idempotency-Key\": \"spoofed\"}')");
  RelayProcess relay(relay_args(db), {"HOOK_TOKEN=s3cret-token", "HOOK_SECRET=whsec_abc", "PGTRICKLE_RELAY_SQL_SECRETS_ENV_PREFIX=HOOK_"});
  ASSERT_TRUE(wait_until([&] { return receiver.all().size() >= 1; }, 15s)) << relay.err();
  auto r = receiver.all()[0];
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.path, "/events/event") << "the URL template is rendered per message";
  EXPECT_EQ(r.header("Authorization"), "Bearer s3cret-token") << "${ENV:...} in headers is resolved";
  EXPECT_EQ(r.header("X-Custom-Header"), "value");
  EXPECT_EQ(r.header("traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") << "application headers travel";
  auto body = json::parse(r.body);
  EXPECT_EQ(r.header("Idempotency-Key"), body["dedup_key"].get<std::string>()) << "an application header cannot replace the identity";
  // X-Pgtrickle-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
  std::string sig = r.header("X-Pgtrickle-Signature");
  ASSERT_EQ(sig.rfind("t=", 0), 0u) << sig;
  std::string t = sig.substr(2, sig.find(',') - 2);
  EXPECT_EQ(sig.substr(sig.find(',') + 1), "v1=" + relay::util::hmac_sha256_hex("whsec_abc", t + "." + r.body));
  EXPECT_LT(std::abs(std::stoll(t) - static_cast<long long>(std::time(nullptr))), 60);
  EXPECT_EQ(relay.err().find("s3cret-token"), std::string::npos) << "secrets never reach the log";
}

// A table's owner names it, and a WAL table's name is the first part of each message's identity:
// a name holding CR/LF stays inside Idempotency-Key (and CloudEvents' ce-* headers), and the owner
// adds no header to the pipeline admin's requests.
TEST(Webhook, ATableNameWithLineBreaksAddsNoHeader) {
  Receiver receiver;
  TestDb db;
  std::string url = replication_login_url(db);
  const std::string name = "t\r\nAuthorization: Bearer owner";
  db.exec("CREATE TABLE \"" + name + "\" (id int PRIMARY KEY)");
  for (std::string format : {"json", "cloudevents"}) {
    json config = {{"source", {{"type", "wal"}, {"tables", {"public.*"}}}},
                   {"sink", {{"type", "webhook"}, {"url", base(receiver) + "/" + format}, {"headers", {{"Authorization", "Bearer admin"}}}}},
                   {"format", format}};
    if (format == "cloudevents") config["cloudevents_mode"] = "binary";
    set_outbox_pipeline(db, "evil-" + format, config);
  }
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  // Both pipelines' slots stream (slot_streams asks for one).
  ASSERT_TRUE(wait_until([&] {
    return db.number("SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
                     "WHERE s.database = current_database()") >= 2;
  }, 20s)) << relay.err();
  db.exec("INSERT INTO \"" + name + "\" VALUES (1)");
  ASSERT_TRUE(wait_until([&] { return receiver.count_accepted("/json") >= 1 && receiver.count_accepted("/cloudevents") >= 1; }, 20s))
      << relay.err();
  // The receiver (cpp-httplib) decodes %XX in the header values it reads: each value below is the
  // one header the relay sent, decoded; a raw CR/LF would have split it into two headers.
  for (const char* path : {"/json", "/cloudevents"}) {
    auto r = receiver.accepted(path)[0];
    EXPECT_EQ(r.headers.count("Authorization"), 1u) << path;
    EXPECT_EQ(r.header("Authorization"), "Bearer admin") << path;
    EXPECT_EQ(r.headers.count("Idempotency-Key"), 1u) << path;
    EXPECT_EQ(r.header("Idempotency-Key").rfind(name + ":", 0), 0u) << r.header("Idempotency-Key");
  }
  auto json_request = receiver.accepted("/json")[0];
  auto body = json::parse(json_request.body);
  EXPECT_EQ(body["stream_table"], name) << "the envelope names the table as it is";
  EXPECT_EQ(json_request.header("Idempotency-Key"), body["dedup_key"].get<std::string>());
  auto ce = receiver.accepted("/cloudevents")[0];
  EXPECT_EQ(ce.header("ce-source"), "/pgtrickle/" + name);
  EXPECT_EQ(ce.header("ce-type"), "pgtrickle." + name + ".insert");
  EXPECT_EQ(ce.header("ce-id"), ce.header("Idempotency-Key"));
}

TEST(Webhook, A503IsRetriedHonouringRetryAfterWithTheSameIdempotencyKey) {
  Receiver receiver;
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "p", {{"stream_table", "t"}, {"sink_type", "webhook"}, {"url", base(receiver) + "/t"}, {"retry_max", 3}});
  receiver.fail_next(2, 503, "1");
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(wait_until([&] { return receiver.count_accepted("/t") == 1; }, 20s)) << relay.err();
  auto all = receiver.all();
  ASSERT_EQ(all.size(), 3u) << "two refusals, then the delivery";
  EXPECT_EQ(all[0].status, 503);
  EXPECT_EQ(all[2].status, 200);
  EXPECT_EQ(all[0].header("Idempotency-Key"), all[2].header("Idempotency-Key"));
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0);

  // 429 beyond retry_max goes back to the core, which retries too: nothing is lost.
  receiver.fail_next(6, 429);
  db.exec("INSERT INTO t VALUES (2)");
  ASSERT_TRUE(wait_until([&] { return receiver.count_accepted("/t") == 2; }, 30s)) << relay.err();
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0);

  // Another 4xx is permanent: dead-lettered with the answer, and the next message goes on.
  receiver.fail_next(1, 404);
  db.exec("INSERT INTO t VALUES (3)");
  db.exec("INSERT INTO t VALUES (4)");
  ASSERT_TRUE(wait_until([&] { return receiver.count_accepted("/t") == 3; }, 15s)) << relay.err();
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters") == 1; }, 10s));
  EXPECT_NE(db.value("SELECT error FROM pgtrickle.relay_dead_letters").find("HTTP 404"), std::string::npos);
  EXPECT_EQ(json::parse(receiver.accepted("/t")[2].body)["payload"]["id"], 4);
}

TEST(Webhook, BatchedModeSendsOneJsonArrayAndNarrowsARefusalToItsMessage) {
  Receiver receiver;
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY, note text)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "p", {{"stream_table", "t"}, {"sink_type", "webhook"}, {"url", base(receiver) + "/batch"}, {"batch", true}});
  receiver.refuse_bodies_with("poison", 422);
  db.exec("INSERT INTO t SELECT g, CASE WHEN g = 7 THEN 'poison' ELSE 'ok' END FROM generate_series(1, 10) g");
  RelayProcess relay(relay_args(db));
  std::set<int> ids;
  auto delivered = [&] {
    ids.clear();
    for (const auto& r : receiver.accepted("/batch"))
      for (const auto& m : json::parse(r.body)) ids.insert(m["payload"]["id"].get<int>());
    return ids.size();
  };
  ASSERT_TRUE(wait_until([&] { return delivered() == 9; }, 15s)) << relay.err();
  EXPECT_EQ(ids.count(7), 0u);
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters") == 1; }, 10s));
  EXPECT_EQ(db.value("SELECT payload->>'id' FROM pgtrickle.relay_dead_letters"), "7");
  auto first = receiver.all()[0];
  auto arr = json::parse(first.body);
  ASSERT_TRUE(arr.is_array());
  EXPECT_EQ(arr.size(), 10u) << "the whole batch went in one request first";
  EXPECT_EQ(first.header("Idempotency-Key"), arr.front()["dedup_key"].get<std::string>() + ".." + arr.back()["dedup_key"].get<std::string>());
}

TEST(Webhook, ADeadLetterSentAgainGoesAsItWasSetAsideAndIsDeletedOnceAccepted) {
  Receiver receiver;
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY, note text)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "p", {{"stream_table", "t"}, {"sink_type", "webhook"}, {"url", base(receiver) + "/t/{op}"},
                                {"headers", {{"X-Team", "billing"}}}});
  receiver.refuse_bodies_with("poison", 422);
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO t VALUES (1, 'ok'), (2, 'poison'), (3, 'ok')");
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters") == 1; }, 20s)) << relay.err();
  ASSERT_TRUE(wait_until([&] { return receiver.count_accepted("/t/insert") == 2; }, 10s)) << relay.err();
  const std::string id = db.value("SELECT id FROM pgtrickle.relay_dead_letters");
  auto refused = receiver.all();
  auto first = std::find_if(refused.begin(), refused.end(), [](const ReceivedRequest& r) { return r.status == 422; });
  ASSERT_NE(first, refused.end());

  // Asked for again while the target still refuses it: it stays, with the new answer and one more attempt.
  receiver.set_error_body("{\"error\":\"still no\"}");
  EXPECT_EQ(db.number("SELECT pgtrickle.replay_dead_letters('p', ARRAY[" + id + "])"), 1);
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT attempts FROM pgtrickle.relay_dead_letters WHERE id = " + id) == 2; }, 15s))
      << relay.err();
  EXPECT_NE(db.value("SELECT error FROM pgtrickle.relay_dead_letters WHERE id = " + id).find("still no"), std::string::npos);
  EXPECT_EQ(db.value("SELECT replay_requested_at IS NULL FROM pgtrickle.relay_dead_letters WHERE id = " + id), "t")
      << "refused again, it is not asked for any more";

  // The target fixed: sent again, it goes as it went first (path, headers, identity, body), and is gone.
  receiver.refuse_bodies_with("", 422);
  EXPECT_EQ(db.number("SELECT pgtrickle.replay_dead_letters('p')"), 1) << "all of the pipeline's";
  ASSERT_TRUE(wait_until([&] { return receiver.count_accepted("/t/insert") == 3; }, 15s)) << relay.err();
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters") == 0; }, 10s)) << relay.err();
  auto again = receiver.accepted("/t/insert")[2];
  EXPECT_EQ(again.body, first->body);
  EXPECT_EQ(again.header("Idempotency-Key"), first->header("Idempotency-Key"));
  EXPECT_EQ(again.header("X-Team"), "billing");
  EXPECT_EQ(json::parse(again.body)["payload"]["id"], 2);

  // What cannot be sent again is named: an id the pipeline has not, a dead letter kept without its message.
  std::string e = db.error_of("SELECT pgtrickle.replay_dead_letters('p', ARRAY[" + id + "])");
  EXPECT_NE(e.find("pipeline p has no dead letter " + id), std::string::npos) << e;
  db.exec("INSERT INTO pgtrickle.relay_dead_letters (pipeline, error, payload) VALUES ('p', 'old', '{}')");
  const std::string old = db.value("SELECT max(id) FROM pgtrickle.relay_dead_letters");
  e = db.error_of("SELECT pgtrickle.replay_dead_letters('p', ARRAY[" + old + "])");
  EXPECT_NE(e.find("dead letter " + old + " of pipeline p cannot be sent again"), std::string::npos) << e;
  EXPECT_EQ(db.number("SELECT pgtrickle.replay_dead_letters('p')"), 0) << "nothing to send: the old one is left";
}

TEST(Webhook, BadConfigurationIsRefusedNamingTheKey) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  std::string e = db.error_of("SELECT pgtrickle.set_relay_outbox('p', config => '{\"stream_table\": \"t\", \"sink_type\": \"webhook\", "
                              "\"url\": \"http://x/\", \"method\": \"GET\"}'::jsonb)");
  EXPECT_NE(e.find("method"), std::string::npos) << e;
  e = db.error_of("SELECT pgtrickle.set_relay_outbox('p', config => '{\"stream_table\": \"t\", \"sink_type\": \"webhook\"}'::jsonb)");
  EXPECT_NE(e.find("url"), std::string::npos) << e;
  e = db.error_of("SELECT pgtrickle.set_relay_outbox('p', config => '{\"stream_table\": \"t\", \"sink_type\": \"webhook\", "
                  "\"url\": \"http://x/\", \"timeout_ms\": 0}'::jsonb)");
  EXPECT_NE(e.find("key \"timeout_ms\" must be between 1 and 3600000, got 0"), std::string::npos) << e;

  // Checked when the pipeline is built: the scheme, headers.
  set_outbox_pipeline(db, "scheme", {{"stream_table", "t"}, {"sink_type", "webhook"}, {"url", "ftp://example.com/x"}});
  set_outbox_pipeline(db, "header", {{"stream_table", "t"}, {"sink_type", "webhook"}, {"url", "http://127.0.0.1:1/"},
                              {"headers", {{"Content-Length", "5"}}}});
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] {
    return relay.err().find("ftp://example.com/x") != std::string::npos &&
           relay.err().find("must start with http:// or https://") != std::string::npos &&
           relay.err().find("headers: Content-Length is set by the HTTP client") != std::string::npos;
  }, 15s)) << relay.err();
  EXPECT_TRUE(relay.alive()) << "a bad pipeline does not take the relay down";
}

// While the webhook is down, the outbox reader waits for the pipeline, not for rows; meanwhile
// any login may flood the channel the relay's listening session LISTENs on. That connection is
// still read: its backend does not sit in ClientWrite (where it would absorb no
// ProcSignalBarrier), and DROP DATABASE of an unrelated database, which waits for every backend of
// the cluster, completes (it would wait forever for a backend stuck in ClientWrite).
TEST(Webhook, ANotifyFloodWhileTheSinkIsDownBlocksNeitherTheReadersBackendNorDropDatabase) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  for (int i = 0; i < 6; ++i) db.exec("SELECT pgtrickle.outbox_publish('order_events', '{\"n\": " + std::to_string(i) + "}')");
  // A port nothing listens on: every delivery fails, and is retried.
  set_outbox_pipeline(db, "down", {{"outbox", "order_events"}, {"sink_type", "webhook"}, {"url", "http://127.0.0.1:1/x"},
                                   {"batch_size", 1}});
  RelayProcess relay(relay_args(db));
  const std::string reader = "(SELECT pid FROM pg_stat_activity WHERE application_name = 'pgtrickle-relay listener' "
                             "AND datname = current_database())";
  ASSERT_TRUE(wait_until([&] {
    return db.value("SELECT " + reader + " IS NOT NULL") == "t" &&
           db.number("SELECT count(*) FROM pgtrickle.relay_pipeline_status WHERE pipeline = 'down' AND last_error <> ''") > 0;
  }, 20s)) << relay.err();
  std::this_thread::sleep_for(1s);  // the reader has read the batches it keeps ahead, and waits for room
  // Another login: 200,000 notifications of 1 kB each (distinct, so none is folded into another).
  db.exec("SELECT pg_notify('pgtrickle_outbox_new', i::text || repeat('x', 1000)) FROM generate_series(1, 200000) AS i");
  // The relay reads the flood to its end: the backend is back to waiting for a command. (Only then
  // the DROP: PostgreSQL 15 lets a backend that is writing to its client when the DROP's barrier
  // arrives forget it until its next interrupt, whoever reads.)
  auto reader_waits_for_a_command = [&] {
    return db.value("SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = " + reader) == "ClientRead";
  };
  EXPECT_TRUE(wait_until([&] {
    if (!reader_waits_for_a_command()) return false;
    std::this_thread::sleep_for(300ms);
    return reader_waits_for_a_command();
  }, 60s)) << "the reader's backend waits to write notifications nobody reads";
  std::string other = "other_" + db.name();
  db.exec("CREATE DATABASE " + other);
  auto admin = relay::pg::Connection::open(maintenance_url(), "relay-test");
  ASSERT_TRUE(admin) << admin.error().message;
  ASSERT_TRUE(admin->exec("SET statement_timeout = '30s'"));
  auto dropped = admin->exec("DROP DATABASE " + other);
  EXPECT_TRUE(dropped) << (dropped ? "" : dropped.error().message);
  EXPECT_TRUE(relay.alive()) << relay.err();
}

}  // namespace
