// The Redis Streams sink against a real redis-server: the fields an entry carries, routing by
// template, MAXLEN trimming, ACL users and databases from the url, and clear errors for bad config.
#include <fmt/format.h>

#include "../fixture.h"
#include "redis_test_util.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

class RedisSink : public testing::Test {
 protected:
  void SetUp() override {
    unique_ = "r" + db_.name();
    db_.exec("CREATE TABLE orders (id int PRIMARY KEY, region text, amount numeric)");
    db_.exec("SELECT pgtrickle.enable_outbox('orders')");
  }

  void pipeline(const json& config) {
    db_.exec("SELECT pgtrickle.set_relay_outbox('orders-to-redis', config => " + relay::pg::quote_literal(config.dump()) + "::jsonb)");
  }

  std::string url_with(const std::string& userinfo, int db) {
    return fmt::format("redis://{}{}:{}/{}", userinfo, redis_server().host, redis_server().port, db);
  }

  TestDb db_;
  std::string unique_;
};

TEST_F(RedisSink, EntriesCarryTheDedupKeyRoutingFieldsAndTheEnvelope) {
  // The flat SQL form with redis_ prefixes, as seed 001 writes it for NATS.
  pipeline({{"stream_table", "orders"}, {"sink_type", "redis"}, {"redis_url", redis_url()},
            {"redis_stream_key", unique_ + ":{stream_table}:{op}"}});
  db_.exec("INSERT INTO orders VALUES (1, 'eu', 10), (2, 'us', 20)");
  db_.exec("DELETE FROM orders WHERE id = 2");
  RelayProcess relay(relay_args(db_));
  auto inserts = read_stream_entries(unique_ + ":orders:insert", 2, 15s);
  auto deletes = read_stream_entries(unique_ + ":orders:delete", 1, 15s);
  ASSERT_EQ(inserts.size(), 2u) << relay.err();
  ASSERT_EQ(deletes.size(), 1u) << relay.err();

  const json& f = inserts[0]["fields"];
  auto body = json::parse(f["payload"].get<std::string>());
  EXPECT_EQ(body["payload"]["region"], "eu");
  EXPECT_EQ(f["dedup_key"], body["dedup_key"]);
  EXPECT_EQ(f["stream_table"], "orders");
  EXPECT_EQ(f["op"], "insert");
  EXPECT_EQ(f["key"], "1");
  EXPECT_EQ(deletes[0]["fields"]["op"], "delete");
  EXPECT_EQ(deletes[0]["fields"]["key"], "2");
  EXPECT_NE(deletes[0]["fields"]["dedup_key"], f["dedup_key"]);
}

TEST_F(RedisSink, RowFieldsRouteToStreamsAndMaxlenTrimsApproximately) {
  pipeline({{"stream_table", "orders"}, {"sink", {{"type", "redis"}, {"url", redis_url()},
            {"stream_key", unique_ + ":{{ region }}"}, {"maxlen", 10}}}, {"batch_size", 50}});
  db_.exec("INSERT INTO orders SELECT g, 'eu', g FROM generate_series(1, 1000) g");
  db_.exec("INSERT INTO orders VALUES (1001, 'asia', 1)");
  RelayProcess relay(relay_args(db_));
  ASSERT_EQ(read_stream(unique_ + ":asia", 1, 30s).size(), 1u) << relay.err();
  auto eu = read_stream(unique_ + ":eu", 0, 1s);
  // MAXLEN ~ trims whole nodes of the stream: more than 10 may stay, never all 1000.
  EXPECT_GE(eu.size(), 10u);
  EXPECT_LT(eu.size(), 1000u);
  ASSERT_FALSE(eu.empty());
  EXPECT_EQ(eu.back().body["payload"]["id"], 1000) << "the newest entries are kept";
}

TEST_F(RedisSink, AnAclUserAndADatabaseFromTheUrl) {
  std::string user = unique_ + "_relay";
  ASSERT_EQ(redis_command({"ACL", "SETUSER", user, "on", ">s3cret:@x", "~" + unique_ + "*", "+xadd", "+select", "+ping"}), "OK");
  pipeline({{"stream_table", "orders"}, {"sink_type", "redis"},
            {"redis_url", url_with(user + ":s3cret%3A%40x@", 3)}, {"redis_stream_key", unique_}});
  db_.exec("INSERT INTO orders VALUES (1, 'eu', 10)");
  RelayProcess relay(relay_args(db_));
  auto got = parse_delivered(run_node("redis.js", {url_with("", 3), unique_, "1", "15000"}));
  ASSERT_EQ(got.size(), 1u) << relay.err();
  EXPECT_EQ(got[0].body["payload"]["id"], 1);
  EXPECT_EQ(redis_command({"EXISTS", unique_}), "0") << "database 0 was not written";
  redis_command({"ACL", "DELUSER", user});
}

TEST_F(RedisSink, AWrongPasswordStopsThePipelineWithAClearErrorAndNoSecret) {
  std::string user = unique_ + "_relay";
  ASSERT_EQ(redis_command({"ACL", "SETUSER", user, "on", ">right", "~*", "+@all"}), "OK");
  pipeline({{"stream_table", "orders"}, {"sink_type", "redis"}, {"redis_url", url_with(user + ":wrongpass@", 0)},
            {"redis_stream_key", unique_}});
  db_.exec("INSERT INTO orders VALUES (1, 'eu', 10)");
  RelayProcess relay(relay_args(db_));
  std::string error = wait_for_pipeline_error(relay, "orders-to-redis");
  EXPECT_NE(error.find("AUTH"), std::string::npos) << error;
  EXPECT_NE(error.find("WRONGPASS"), std::string::npos) << error;
  EXPECT_EQ(relay.err().find("wrongpass"), std::string::npos) << "the password is never logged";
  EXPECT_EQ(db_.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0) << "nothing is set aside";
  EXPECT_EQ(redis_command({"EXISTS", unique_}), "0");
  redis_command({"ACL", "DELUSER", user});
}

TEST_F(RedisSink, AnAclThatForbidsTheKeyStopsThePipelineInsteadOfDeadLetteringEverything) {
  std::string user = unique_ + "_relay";
  ASSERT_EQ(redis_command({"ACL", "SETUSER", user, "on", ">pw", "~other*", "+@all"}), "OK");
  pipeline({{"stream_table", "orders"}, {"sink_type", "redis"}, {"redis_url", url_with(user + ":pw@", 0)},
            {"redis_stream_key", unique_}});
  db_.exec("INSERT INTO orders VALUES (1, 'eu', 10)");
  RelayProcess relay(relay_args(db_));
  std::string error;
  ASSERT_TRUE(wait_until([&] { error = wait_for_pipeline_error(relay, "orders-to-redis"); return error.find("NOPERM") != std::string::npos; }, 15s)) << error;
  EXPECT_EQ(db_.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0);
  EXPECT_EQ(db_.number("SELECT count(*) FROM pgtrickle.relay_offsets WHERE pipeline = 'orders-to-redis' AND last_id > 0"), 0)
      << "nothing was acknowledged";
  redis_command({"ACL", "DELUSER", user});
}

TEST_F(RedisSink, ABadUrlNamesTheKeyAndWhatIsExpected) {
  pipeline({{"stream_table", "orders"}, {"sink_type", "redis"}, {"redis_url", "rediss://cache:6380/0"},
            {"redis_stream_key", unique_}});
  RelayProcess relay(relay_args(db_));
  std::string error = wait_for_pipeline_error(relay, "orders-to-redis");
  EXPECT_NE(error.find("sink.url"), std::string::npos) << error;
  EXPECT_NE(error.find("redis://"), std::string::npos) << error;
  EXPECT_TRUE(relay.alive()) << "one bad pipeline does not stop the relay";
}

TEST_F(RedisSink, AMissingStreamKeyIsRefusedWhenThePipelineIsSet) {
  std::string e = db_.error_of("SELECT pgtrickle.set_relay_outbox('p', config => '{\"stream_table\": \"orders\", \"sink_type\": \"redis\", "
                               "\"redis_url\": \"redis://localhost\"}'::jsonb)");
  EXPECT_NE(e.find("stream_key"), std::string::npos) << e;
}

}  // namespace

// "format": "debezium" through Redis Streams: the entry's payload is Debezium's value.
TEST_F(RedisSink, DebeziumEventsAreTheEntriesPayload) {
  pipeline({{"stream_table", "orders"}, {"sink_type", "redis"}, {"redis_url", redis_url()},
            {"redis_stream_key", unique_ + ":{schema}.{table}"}, {"format", "debezium"}, {"schemas", true}});
  db_.exec("INSERT INTO orders VALUES (1, 'eu', 10.50)");
  db_.exec("UPDATE orders SET amount = 11 WHERE id = 1");
  RelayProcess relay(relay_args(db_));
  auto entries = read_stream_entries(unique_ + ":public.orders", 2, 15s);
  ASSERT_EQ(entries.size(), 2u) << relay.err();
  auto c = json::parse(entries[0]["fields"]["payload"].get<std::string>());
  auto u = json::parse(entries[1]["fields"]["payload"].get<std::string>());
  EXPECT_EQ(c["payload"]["op"], "c");
  EXPECT_EQ(c["payload"]["after"]["region"], "eu");
  EXPECT_EQ(c["schema"]["name"], "orders-to-redis.public.orders.Envelope") << "the prefix defaults to the pipeline's name";
  EXPECT_EQ(u["payload"]["op"], "u");
  EXPECT_TRUE(u["payload"]["before"].is_null()) << "REPLICA IDENTITY DEFAULT, the key kept: no before";
}
