// NATS JetStream sink beyond the contract: the seed examples as written, the stream the relay
// creates, headers on the wire, token authentication with a secret from the environment.
#include <signal.h>

#include <fstream>
#include <regex>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "nats_servers.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::vector<json> read_stream(const std::string& url, const std::string& stream, const std::string& filter, size_t n) {
  return parse_json_lines(run_node("nats.js", {"read", url, stream, filter, std::to_string(n), "20000"}));
}

}  // namespace

// Seed 001, "Register a forward pipeline (outbox → NATS)", with the server's address.
TEST(NatsSink, TheSeedExampleCreatesItsStreamAndPublishesBySubjectTemplate) {
  TestDb db;
  run_node("nats.js", {"drop", nats_url(), "pgtrickle"});
  db.exec("CREATE TABLE orders_stream (id int PRIMARY KEY, customer text, amount numeric)");
  db.exec("SELECT pgtrickle.enable_outbox('orders_stream')");
  db.exec(R"(SELECT pgtrickle.set_relay_outbox(
'orders-to-nats',
config => '{
"stream_table": "orders_stream",
"sink_type": "nats",
"nats_url": ")" + nats_url() + R"(",
"nats_stream": "pgtrickle",
"subject_template": "pgtrickle.{stream_table}.{op}"
}'::jsonb
))");
  db.exec("SELECT pgtrickle.enable_relay('orders-to-nats')");
  db.exec("INSERT INTO orders_stream VALUES (1, 'ann', 10), (2, 'bob', 20)");
  db.exec("UPDATE orders_stream SET amount = 11 WHERE id = 1");
  db.exec("DELETE FROM orders_stream WHERE id = 2");
  db.exec("SELECT pgtrickle.outbox_publish('orders_stream', '{\"kind\": \"note\"}', '{\"traceparent\": \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}')");

  RelayProcess relay(relay_args(db));
  auto msgs = read_stream(nats_url(), "pgtrickle", "pgtrickle.orders_stream.>", 5);
  ASSERT_EQ(msgs.size(), 5u) << relay.err();
  EXPECT_EQ(msgs[0]["subject"], "pgtrickle.orders_stream.insert");
  EXPECT_EQ(msgs[1]["subject"], "pgtrickle.orders_stream.insert");
  EXPECT_EQ(msgs[2]["subject"], "pgtrickle.orders_stream.update");
  EXPECT_EQ(msgs[3]["subject"], "pgtrickle.orders_stream.delete");
  EXPECT_EQ(msgs[4]["subject"], "pgtrickle.orders_stream.event");
  auto body = json::parse(msgs[2]["body"].get<std::string>());
  EXPECT_EQ(body["payload"]["amount"], 11);
  EXPECT_EQ(msgs[2]["headers"]["Nats-Msg-Id"], body["dedup_key"]);
  EXPECT_EQ(msgs[4]["headers"]["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
      << "application headers travel as NATS headers";

  auto config = json::parse(run_node("nats.js", {"info", nats_url(), "pgtrickle"}));
  EXPECT_EQ(config["subjects"], json::array({"pgtrickle.>"})) << "the stream covers the template's fixed prefix";
  EXPECT_NE(relay.err().find("Created the JetStream stream."), std::string::npos);
}

// Seed 000, "Subject Routing": a TOML pipeline routing by a row column, no stream named.
TEST(NatsSink, TheSeedTomlRoutesByColumnAndASubjectWildcardIsRefusedWithAHint) {
  TestDb db;
  run_node("nats.js", {"drop", nats_url(), "revenue"});
  db.exec("CREATE TABLE revenue_by_region (region text PRIMARY KEY, revenue numeric)");
  db.exec("SELECT pgtrickle.enable_outbox('revenue_by_region')");
  std::string toml = work_dir() + "/nats-" + db.name() + ".toml";
  std::ofstream(toml) << "[global]\npostgres_url = \"" << db.relay_url() << "\"\nmetrics_bind = \"127.0.0.1:0\"\n\n"
                      << "[[pipeline]]\nname = \"regional-revenue\"\n"
                      << "source = { type = \"outbox\", stream_table = \"revenue_by_region\" }\n"
                      << "sink = { type = \"nats\", url = \"" << nats_url() << "\", subject_template = \"revenue.{{ region }}\" }\n";
  RelayProcess relay({"--config", toml});
  db.exec("INSERT INTO revenue_by_region VALUES ('europe', 150200.50), ('asia', 99)");
  auto eu = read_stream(nats_url(), "revenue", "revenue.europe", 1);
  auto asia = read_stream(nats_url(), "revenue", "revenue.asia", 1);
  ASSERT_EQ(eu.size(), 1u) << relay.err();
  ASSERT_EQ(asia.size(), 1u);
  EXPECT_EQ(json::parse(eu[0]["body"].get<std::string>())["payload"]["revenue"], 150200.50);

  // Seed 000's "orders.>" publishes nowhere: refused at validation, saying what to write.
  std::string bad = work_dir() + "/nats-bad-" + db.name() + ".toml";
  std::ofstream(bad) << "[global]\npostgres_url = \"" << db.relay_url() << "\"\n\n[[pipeline]]\nname = \"orders-to-nats\"\n"
                     << "source = { type = \"outbox\", stream_table = \"order_view\" }\n"
                     << "sink = { type = \"nats\", url = \"nats://localhost:4222\", subject = \"orders.>\" }\n";
  std::string out;
  EXPECT_NE(run_command(shell_quote(relay_binary()) + " validate --config " + bad, out), 0);
  EXPECT_NE(out.find("orders.>"), std::string::npos) << out;
  EXPECT_NE(out.find("orders.{op}"), std::string::npos) << out;
}

// The same routing with granularity = "delta": a delta touching two regions is split per route,
// each subject getting only its own rows (not the whole delta under the first row's region).
TEST(NatsSink, ADeltaRoutedByARowFieldGoesToEachRouteWithItsOwnRows) {
  TestDb db;
  run_node("nats.js", {"drop", nats_url(), "deltas"});
  db.exec("CREATE TABLE revenue_by_region (region text PRIMARY KEY, revenue numeric)");
  db.exec("SELECT pgtrickle.enable_outbox('revenue_by_region')");
  set_outbox_pipeline(db, "regional-deltas", {{"stream_table", "revenue_by_region"}, {"sink_type", "nats"}, {"nats_url", nats_url()},
                                              {"nats_stream", "deltas"}, {"subject_template", "deltas.{{ region }}"}, {"granularity", "delta"}});
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO revenue_by_region VALUES ('europe', 100), ('asia', 50), ('europe2', 1)");
  db.exec("UPDATE revenue_by_region SET revenue = revenue + 1 WHERE region IN ('europe', 'asia')");
  auto eu = read_stream(nats_url(), "deltas", "deltas.europe", 2);
  auto asia = read_stream(nats_url(), "deltas", "deltas.asia", 2);
  ASSERT_EQ(eu.size(), 2u) << relay.err();
  ASSERT_EQ(asia.size(), 2u);
  for (const auto& m : eu) {
    auto d = json::parse(m["body"].get<std::string>())["delta"];
    for (const auto& side : {"inserted", "deleted"})
      for (const auto& r : d[side]) EXPECT_EQ(r["region"], "europe") << m.dump();
  }
  auto update = json::parse(asia[1]["body"].get<std::string>());
  EXPECT_EQ(update["delta"]["inserted"][0]["revenue"], 51);
  EXPECT_EQ(update["delta"]["deleted"][0]["revenue"], 50);
  EXPECT_NE(eu[0]["id"], asia[0]["id"]) << "each part has an identity of its own";
}

TEST(NatsSink, TokenAuthenticationWithASecretFromTheEnvironment) {
  TestDb db;
  TokenNatsServer server(work_dir() + "/nats-auth-" + db.name(), 55700 + static_cast<int>(getpid() % 200), "s3cret-token");
  ASSERT_TRUE(server.started()) << server.output();
  std::string url = server.url();

  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("SELECT pgtrickle.set_relay_outbox('t-to-nats', config => '{\"stream_table\": \"t\", \"sink_type\": \"nats\", \"url\": \"" +
          url + "\", \"stream\": \"authed\", \"subject\": \"authed.{op}\", \"token\": \"${ENV:TEST_NATS_TOKEN}\"}'::jsonb)");
  db.exec("INSERT INTO t VALUES (1)");
  RelayProcess relay(relay_args(db), {"TEST_NATS_TOKEN=s3cret-token", "PGTRICKLE_RELAY_SQL_SECRETS_ENV_PREFIX=TEST_NATS_"});
  setenv("NATS_TOKEN", "s3cret-token", 1);
  auto msgs = read_stream(url, "authed", "authed.>", 1);
  unsetenv("NATS_TOKEN");
  ASSERT_EQ(msgs.size(), 1u) << relay.err();
  EXPECT_EQ(relay.err().find("s3cret-token"), std::string::npos) << "the token is never logged";
  int status = 0;
  EXPECT_EQ(http_get(relay.admin_port(), "/health", status).find("s3cret-token"), std::string::npos);

  // A wrong token: the pipeline retries (nothing is lost) and /health says why.
  db.exec("SELECT pgtrickle.set_relay_outbox('t-to-nats', config => '{\"stream_table\": \"t\", \"sink_type\": \"nats\", \"url\": \"" +
          url + "\", \"stream\": \"authed\", \"subject\": \"authed.{op}\", \"token\": \"wrong\"}'::jsonb)");
  db.exec("INSERT INTO t VALUES (2)");
  ASSERT_TRUE(wait_until([&] { return http_get(relay.admin_port(), "/health", status).find("uthorization") != std::string::npos; }, 20s))
      << http_get(relay.admin_port(), "/health", status);
  EXPECT_EQ(status, 503);
}

// A pipeline defined in SQL names its NATS server without a scheme, as the NATS client accepts it:
// the address is checked all the same, and a server outside --sql-allow-destinations gets nothing.
TEST(NatsSink, AServerWrittenWithoutASchemeIsStillCheckedAgainstTheAllowList) {
  TestDb db;
  std::string stream = "allow_" + db.name();
  run_node("nats.js", {"drop", nats_url(), stream});
  run_node("nats.js", {"add-stream", nats_url(), stream, stream + ".>"});
  std::string bare = nats_url().substr(nats_url().find("://") + 3);  // 127.0.0.1:<port>
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  set_outbox_pipeline(db, "bare", {{"outbox", "order_events"}, {"sink_type", "nats"}, {"nats_url", bare},
                                   {"nats_stream", stream}, {"subject_template", stream + ".orders"}});
  db.exec("SELECT pgtrickle.outbox_publish('order_events', '{\"n\": 1}')");
  auto args = relay_args(db);
  args.insert(args.end(), {"--sql-allow-destinations", "127.0.0.1:1"});
  RelayProcess relay(args);
  std::string error = wait_for_pipeline_error(relay, "bare");
  EXPECT_NE(error.find("--sql-allow-destinations"), std::string::npos) << error << relay.err();
  EXPECT_NE(error.find(bare), std::string::npos) << "the refusal names the destination: " << error;
  EXPECT_TRUE(parse_json_lines(run_node("nats.js", {"read", nats_url(), stream, stream + ".>", "1", "2000"})).empty())
      << "a row was published to a server the operator did not allow";
}

// {schema} and {table} name the captured table, outside schema public too (the name in messages,
// {stream_table}, is the table's bare name for a table captured by enable_outbox).
TEST(NatsSink, SchemaAndTableNameTheCapturedTableOfAnySchema) {
  TestDb db;
  std::string stream = "st" + db.name();
  db.exec("CREATE SCHEMA sales");
  db.exec("CREATE TABLE sales.orders (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('sales.orders')");
  set_outbox_pipeline(db, "orders-out", {{"stream_table", "sales.orders"}, {"sink_type", "nats"}, {"nats_url", nats_url()},
                                         {"nats_stream", stream}, {"subject_template", stream + ".{schema}.{table}.{stream_table}"}});
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO sales.orders VALUES (1)");
  auto msgs = read_stream(nats_url(), stream, stream + ".>", 1);
  ASSERT_EQ(msgs.size(), 1u) << relay.err();
  EXPECT_EQ(msgs[0]["subject"], stream + ".sales.orders.orders");
  run_node("nats.js", {"drop", nats_url(), stream});
}

// "format": "debezium" through JetStream: the message is Debezium's value; NATS carries no null
// value, so a delete comes without its tombstone.
TEST(NatsSink, DebeziumEventsArriveWithoutTombstones) {
  TestDb db;
  std::string stream = "dbz" + db.name();
  db.exec("CREATE TABLE customers (id int PRIMARY KEY, first_name text NOT NULL)");
  db.exec("SELECT pgtrickle.enable_outbox('customers')");
  set_outbox_pipeline(db, "customers-out", {{"stream_table", "customers"}, {"sink_type", "nats"}, {"nats_url", nats_url()},
                                            {"nats_stream", stream}, {"subject_template", stream + ".{schema}.{table}"},
                                            {"format", "debezium"}, {"topic_prefix", "inventory"}});
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO customers VALUES (1, 'Anne')");
  db.exec("DELETE FROM customers WHERE id = 1");
  db.exec("INSERT INTO customers VALUES (2, 'George')");
  auto msgs = read_stream(nats_url(), stream, stream + ".>", 3);
  ASSERT_EQ(msgs.size(), 3u) << relay.err();
  EXPECT_EQ(msgs[0]["subject"], stream + ".public.customers");
  auto c = json::parse(msgs[0]["body"].get<std::string>());
  auto d = json::parse(msgs[1]["body"].get<std::string>());
  EXPECT_EQ(c["op"], "c");
  EXPECT_EQ(c["after"], json({{"id", 1}, {"first_name", "Anne"}}));
  EXPECT_EQ(c["source"]["name"], "inventory");
  EXPECT_EQ(d["op"], "d");
  EXPECT_EQ(d["before"], json({{"id", 1}, {"first_name", ""}})) << "the key; a NOT NULL column at its type's zero";
  EXPECT_EQ(json::parse(msgs[2]["body"].get<std::string>())["op"], "c") << "no tombstone between the delete and the next change";
  run_node("nats.js", {"drop", nats_url(), stream});
}
