// A pipeline capturing many tables from the WAL, each table's rows routed to a stream of its own by
// the sink's template ("{stream_table}"), read back with ioredis: every row in its table's stream, in
// commit order, and none in another's.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../fixture.h"
#include "redis_test_util.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(RedisWalTables, EachTablesRowsGoToTheStreamItsNameRoutesThemTo) {
  TestDb db;
  std::string url = replication_login_url(db);
  db.exec("CREATE SCHEMA sales");
  db.exec("CREATE TABLE customers (id int PRIMARY KEY, name text)");
  db.exec("CREATE TABLE sales.orders (id int PRIMARY KEY, customer int)");
  const std::string unique = "w" + db.name();
  set_outbox_pipeline(db, "shop", {{"source", {{"type", "wal"}, {"tables", {"public.*", "sales.*"}}}},
                                   {"sink", {{"type", "redis"}, {"url", redis_url()}, {"stream_key", unique + ":{stream_table}"}}}});
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();
  for (int i = 1; i <= 20; ++i)
    db.exec("BEGIN; INSERT INTO customers VALUES (" + std::to_string(i) + ", 'c'); INSERT INTO sales.orders VALUES (" +
            std::to_string(i) + ", " + std::to_string(i) + "); COMMIT");

  auto customers = read_stream_entries(unique + ":customers", 20, 20s);
  auto orders = read_stream_entries(unique + ":sales.orders", 20, 20s);
  ASSERT_EQ(customers.size(), 20u) << relay.err();
  ASSERT_EQ(orders.size(), 20u) << relay.err();
  for (int i = 0; i < 20; ++i) {
    auto c = json::parse(customers[i]["fields"]["payload"].get<std::string>());
    auto o = json::parse(orders[i]["fields"]["payload"].get<std::string>());
    EXPECT_EQ(c["stream_table"], "customers");
    EXPECT_EQ(c["payload"]["id"], i + 1) << "commit order within the table's stream";
    EXPECT_EQ(o["stream_table"], "sales.orders");
    EXPECT_EQ(o["payload"]["id"], i + 1);
  }
}
