// Compatibility and least privilege: pg_trickle's own outbox tables and payload shapes, pipelines
// stored by pg_trickle's set_relay_outbox, and a relay that logs in with nothing but the role
// pgtrickle_relay.
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "fixture.h"
#include "pg/catalog.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(Compat, ReadsPgTricklesOwnOutboxesAndEveryPayloadShape) {
  TestDb db(false);
  db.exec("CREATE EXTENSION pg_trickle");  // the test double installed by scripts/test.sh
  ASSERT_TRUE(relay::pg::install_schema(db.conn()));
  std::string out = work_dir() + "/pgt-" + db.name();
  EXPECT_EQ(db.value("SELECT pgtrickle.pgt_test_create_outbox('order_view')"), "outbox_order_view");
  // 0.28-0.45: a bare array; the v1 envelope; a claim-check with its rows in the delta table and a
  // NULL payload; 0.46+: counts only; and a shape nobody wrote, which must be set aside, not lost.
  db.exec("INSERT INTO pgtrickle.outbox_order_view (payload) VALUES ('[{\"id\": 1, \"total\": 10.50}]')");
  db.exec("INSERT INTO pgtrickle.outbox_order_view (payload) VALUES ('{\"v\": 1, \"inserted\": [{\"id\": 2, \"total\": 3}], \"deleted\": []}')");
  db.exec("INSERT INTO pgtrickle.outbox_order_view (is_claim_check, inserted_count, payload) VALUES (true, 3, NULL)");
  db.exec("INSERT INTO pgtrickle.outbox_delta_rows_order_view (outbox_id, row_op, row_data, row_num) "
          "SELECT 3, 'INSERT', jsonb_build_object('id', 10 + g), g FROM generate_series(1, 3) g");
  db.exec("INSERT INTO pgtrickle.outbox_order_view (payload) VALUES ('{\"v\": 1, \"refresh_id\": null, \"inserted\": 4, \"deleted\": 0, \"source\": \"public.order_view\"}')");
  db.exec("INSERT INTO pgtrickle.outbox_order_view (payload) VALUES ('{\"v\": 7}')");
  db.exec("INSERT INTO pgtrickle.outbox_order_view (payload) VALUES ('{\"v\": 1, \"inserted\": [{\"id\": 99}]}')");
  // The pipeline as pg_trickle's positional setter stores it.
  db.exec("SELECT pgtrickle.set_relay_outbox('ov', 'order_view', NULL, '{\"type\": \"file\", \"path\": \"" + out + "\"}'::jsonb)");
  EXPECT_NE(db.value("SELECT config::text FROM pgtrickle.relay_outbox_config WHERE name = 'ov'").find("\"sink_type\""), std::string::npos)
      << "stored in pg_trickle's layout";

  RelayProcess relay({"--postgres-url", db.relay_url(), "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 7; }, 15s)) << relay.err();
  auto m = json_lines(out);
  ASSERT_EQ(m.size(), 7u);
  EXPECT_NE(read_lines(out)[0].find("\"total\":10.50"), std::string::npos) << "numbers keep their digits";
  EXPECT_EQ(m[0]["is_full_refresh"], true);
  EXPECT_EQ(m[1]["payload"]["id"], 2);
  EXPECT_EQ(m[2]["payload"]["id"], 11);
  EXPECT_EQ(m[4]["payload"]["id"], 13);
  EXPECT_EQ(m[5]["op"], "event");
  EXPECT_EQ(m[5]["payload"]["inserted"], 4);
  EXPECT_EQ(m[6]["payload"]["id"], 99);
  EXPECT_EQ(m[0]["stream_table"], "order_view");
  EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.relay_dead_letters WHERE pipeline = 'ov'"), "1");
}

TEST(Compat, ARelayWithOnlyThePgtrickleRelayRoleRunsPipelines) {
  TestDb db;
  std::string role = db.name() + "_login";
  db.exec("CREATE ROLE " + role + " LOGIN IN ROLE pgtrickle_relay");
  std::string out = work_dir() + "/lp-" + db.name();
  db.exec("CREATE TABLE orders (id int PRIMARY KEY, amount numeric)");
  db.exec("SELECT pgtrickle.enable_outbox('orders')");
  db.exec("SELECT pgtrickle.set_relay_outbox('lp-file', config => '{\"stream_table\": \"orders\", \"sink_type\": \"file\", \"path\": \"" + out + "\"}'::jsonb)");
  db.exec("SELECT pgtrickle.set_relay_outbox('lp-inbox', config => '{\"stream_table\": \"orders\", \"sink_type\": \"pg-inbox\", \"inbox_name\": \"orders_copy\"}'::jsonb)");
  db.exec("INSERT INTO orders VALUES (1, 5), (2, 6)");
  db.exec("INSERT INTO pgtrickle.outbox_orders (payload) VALUES ('{\"v\": 3}')");  // a dead letter to write
  std::string url = db.url();
  url.replace(url.find("postgres@"), 9, role + "@");
  {
    RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0", "--relay-group-id", "lp"});
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 2; }, 15s)) << relay.err();
    ASSERT_TRUE(wait_until([&] { return db.error_of("SELECT 1 FROM pgtrickle.inbox_orders_copy") == "" &&
                                        db.number("SELECT count(*) FROM pgtrickle.inbox_orders_copy") == 2; }, 15s)) << relay.err();
    EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.relay_dead_letters"), "2") << "one per pipeline";
    ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.relay_pipeline_status WHERE state = 'running'") == 2; }, 15s));
    EXPECT_EQ(relay.err().find("permission denied"), std::string::npos) << relay.err();
  }
  // The relay's role cannot change pipelines.
  auto c = relay::pg::Connection::open(url, "lp-check");
  ASSERT_TRUE(c);
  auto r = c->exec("SELECT pgtrickle.disable_relay('lp-file')");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("permission denied"), std::string::npos) << r.error().message;
  c = relay::pg::Connection();
  db.exec("DROP OWNED BY " + role);
  db.exec("DROP ROLE " + role);
}

// pg_trickle's deltas of a stream table with "format": "debezium": each row a change event of the
// stream table, keyed by its primary key, an update's two rows paired into one "u" event.
TEST(Compat, PgTricklesDeltasBecomeDebeziumsEventsOfTheStreamTable) {
  TestDb db(false);
  db.exec("CREATE EXTENSION pg_trickle");
  ASSERT_TRUE(relay::pg::install_schema(db.conn()));
  db.exec("CREATE TABLE order_view (id int PRIMARY KEY, total numeric(10,2) NOT NULL)");
  db.exec("SELECT pgtrickle.pgt_test_create_outbox('order_view')");
  db.exec("INSERT INTO pgtrickle.outbox_order_view (payload) VALUES ('{\"v\": 1, \"inserted\": [{\"id\": 1, \"total\": 10.50}]}')");
  db.exec("INSERT INTO pgtrickle.outbox_order_view (payload) VALUES "
          "('{\"v\": 1, \"deleted\": [{\"id\": 1, \"total\": 10.50}], \"inserted\": [{\"id\": 1, \"total\": 12.00}]}')");
  std::string out = work_dir() + "/pgt-dbz-" + db.name();
  // pg_trickle's own set_relay_outbox takes only a sink: the pipeline's options go in its catalog row.
  db.exec("INSERT INTO pgtrickle.relay_outbox_config (name, enabled, config) VALUES ('ov', true, '{\"stream_table\": "
          "\"order_view\", \"sink_type\": \"file\", \"path\": \"" + out + "\", \"format\": \"debezium\", "
          "\"decimal_handling\": \"string\"}')");
  RelayProcess relay({"--postgres-url", db.relay_url(), "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 2; }, 15s)) << relay.err();
  auto m = json_lines(out);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0]["op"], "c");
  EXPECT_EQ(m[0]["after"], json({{"id", 1}, {"total", "10.50"}}));
  EXPECT_EQ(m[0]["source"]["table"], "order_view");
  EXPECT_EQ(m[1]["op"], "u");
  EXPECT_EQ(m[1]["after"]["total"], "12.00");
  EXPECT_TRUE(m[1]["before"].is_null()) << "an update that kept its key has no before with REPLICA IDENTITY DEFAULT";
}
