#include <gtest/gtest.h>

#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "backends/postgres/expand.h"
#include "util/digest.h"
#include "util/json_timestamp.h"

using namespace relay;
using namespace relay::postgres;

namespace {

ExpandOptions options(std::vector<std::string> key = {"id"}) {
  ExpandOptions o;
  o.outbox = "outbox_orders";
  o.stream_table = "orders";
  o.key_columns = std::move(key);
  return o;
}

OutboxRow row(std::int64_t id, std::string payload) {
  OutboxRow r;
  r.seq = 7;
  r.id = id;
  r.payload = std::move(payload);
  r.committed_at = 1777284903.412;  // 2026-04-27T10:15:03.412Z
  r.xid = 7401;                      // the writer's transaction, recorded with the outbox row
  return r;
}

}  // namespace

TEST(Expand, OneMessagePerInsertedRowWithStableDedupKeys) {
  Expander e(options());
  std::vector<Message> out;
  e.expand_row(row(42, R"({"v": 1, "inserted": [{"id": 1, "amount": 10.5}, {"id": 2, "amount": 3}], "deleted": []})"), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:42:0");
  EXPECT_EQ(out[1].dedup_key, "outbox_orders:42:1");
  EXPECT_EQ(out[0].op, Op::insert);
  EXPECT_EQ(out[0].key, "1");
  EXPECT_EQ(out[0].data, R"({"id":1,"amount":10.5})");
  EXPECT_EQ(out[0].body,
            R"({"dedup_key":"outbox_orders:42:0","stream_table":"orders","op":"insert","outbox_id":42,"refresh_id":null,)"
            R"("key":"1","timestamp":"2026-04-27T10:15:03.412Z","is_full_refresh":false,"payload":{"id":1,"amount":10.5}})");
}

TEST(Expand, AnUpdateIsTheDeletedAndInsertedRowWithTheSameKey) {
  Expander e(options());
  std::vector<Message> out;
  e.expand_row(row(5, R"({"v":1,"inserted":[{"id":3,"s":"new"},{"id":9,"s":"x"}],"deleted":[{"id":4,"s":"gone"},{"id":3,"s":"old"}]})"), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].op, Op::delete_);
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:5:0");
  EXPECT_EQ(out[0].data, R"({"id":4,"s":"gone"})");
  EXPECT_EQ(out[1].op, Op::update);
  EXPECT_EQ(out[1].dedup_key, "outbox_orders:5:1");
  EXPECT_EQ(out[1].data, R"({"id":3,"s":"new"})");
  EXPECT_NE(out[1].body.find(R"("before":{"id":3,"s":"old"})"), std::string::npos);
  EXPECT_EQ(out[2].op, Op::insert);
  EXPECT_EQ(out[2].dedup_key, "outbox_orders:5:3");
}

TEST(Expand, WithoutAKeyUpdatesAreNotPaired) {
  Expander e(options({}));
  std::vector<Message> out;
  e.expand_row(row(5, R"({"v":1,"inserted":[{"id":3}],"deleted":[{"id":3}]})"), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].op, Op::delete_);
  EXPECT_EQ(out[1].op, Op::insert);
  EXPECT_EQ(out[0].key, "");
}

TEST(Expand, CompositeKeysAreJsonArrays) {
  Expander e(options({"region", "day"}));
  std::vector<Message> out;
  e.expand_row(row(1, R"({"v":1,"inserted":[{"region":"europe","day":"2026-04-27","revenue":1}]})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, R"(["europe","2026-04-27"])");
}

TEST(Expand, RendersTheSinkTemplatesPerMessage) {
  auto t = Template::compile("revenue.{{ region }}.{op}");
  ASSERT_TRUE(t);
  auto o = options({"region"});
  o.routes = {&*t};
  Expander e(o);
  std::vector<Message> out;
  e.expand_row(row(1, R"({"v":1,"inserted":[{"region":"europe"},{"region":"asia"}]})"), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].routes[0], "revenue.europe.insert");
  EXPECT_EQ(out[1].routes[0], "revenue.asia.insert");
}

TEST(Expand, DeltaGranularityIsTheEnvelopeOfSeed000) {
  auto o = options();
  o.granularity = Granularity::delta;
  Expander e(o);
  std::vector<Message> out;
  e.expand_row(row(42, R"({"v":1,"inserted":[{"id":1}],"deleted":[{"id":1,"x":0}]})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].op, Op::delta);
  EXPECT_EQ(out[0].body,
            R"({"stream_table":"orders","sequence":42,"timestamp":"2026-04-27T10:15:03.412Z",)"
            R"("delta":{"inserted":[{"id":1}],"deleted":[{"id":1,"x":0}]},"metadata":{"dedup_key":"outbox_orders:42:0",)"
            R"("outbox_id":42,"refresh_id":null,"full_refresh":false,"delta_rows":2}})");
}

// A delta routed by a row field is split per route: each route gets its own rows, in order, under
// the identity of its first row; a delta on one route stays one message with the identity it had.
TEST(Expand, ADeltaRoutedByARowFieldIsSplitPerRoute) {
  auto t = Template::compile("revenue.{{ region }}");
  ASSERT_TRUE(t);
  auto o = options();
  o.granularity = Granularity::delta;
  o.routes = {&*t};
  Expander e(o);
  std::vector<Message> out;
  e.expand_row(row(7, R"({"v":1,"inserted":[{"region":"europe","r":2},{"region":"asia","r":5},{"region":"europe","r":3}],)"
                      R"("deleted":[{"region":"asia","r":4}]})"), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].routes[0], "revenue.asia");
  EXPECT_EQ(out[0].data, R"({"inserted":[{"region":"asia","r":5}],"deleted":[{"region":"asia","r":4}]})");
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:7:0");
  EXPECT_EQ(out[1].routes[0], "revenue.europe");
  EXPECT_EQ(out[1].data, R"({"inserted":[{"region":"europe","r":2},{"region":"europe","r":3}],"deleted":[]})");
  EXPECT_EQ(out[1].dedup_key, "outbox_orders:7:1");
  EXPECT_NE(out[1].body.find("\"delta_rows\":2"), std::string::npos) << out[1].body;

  out.clear();
  e.expand_row(row(8, R"({"v":1,"inserted":[{"region":"asia","r":1},{"region":"asia","r":2}]})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:8:0");

  // Claim-check chunks too, each part named by its first row.
  OutboxRow cc = row(9, "");
  cc.is_claim_check = true;
  std::vector<DeltaRow> rows = {{1, false, R"({"region":"europe"})"}, {2, false, R"({"region":"asia"})"}, {3, true, R"({"region":"europe"})"}};
  out.clear();
  size_t consumed = 0;
  e.expand_delta_rows(cc, rows, /*last_chunk=*/true, consumed, out);
  EXPECT_EQ(consumed, 3u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].routes[0], "revenue.europe");
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:9:1");
  EXPECT_EQ(out[0].data, R"({"inserted":[{"region":"europe"}],"deleted":[{"region":"europe"}]})");
  EXPECT_EQ(out[1].routes[0], "revenue.asia");
  EXPECT_EQ(out[1].dedup_key, "outbox_orders:9:2");
}

TEST(Expand, CloudEventsCarryTheRowBeforeAndAfter) {
  auto o = options();
  o.format = Format::cloudevents;
  Expander e(o);
  std::vector<Message> out;
  e.expand_row(row(3, R"({"v":1,"inserted":[{"id":1,"n":2}],"deleted":[{"id":1,"n":1}]})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body,
            R"({"specversion":"1.0","id":"outbox_orders:3:0","source":"/pgtrickle/orders","type":"pgtrickle.orders.update",)"
            R"("time":"2026-04-27T10:15:03.412Z","subject":"1","datacontenttype":"application/json","outboxid":"3",)"
            R"("data":{"before":{"id":1,"n":1},"after":{"id":1,"n":2}}})");
}

TEST(Expand, ApplicationEventsAreRelayedWithTheirHeaders) {
  Expander e(options());
  std::vector<Message> out;
  auto r = row(8, R"({"order_id": 17, "status": "paid"})");
  r.is_event = true;
  r.headers = R"({"type": "OrderPaid", "traceparent": "00-abc-def-01"})";
  e.expand_row(r, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].op, Op::event);
  EXPECT_EQ(out[0].data, R"({"order_id":17,"status":"paid"})");
  ASSERT_EQ(out[0].headers.size(), 2u);
  EXPECT_EQ(out[0].headers[0], (Header{"type", "OrderPaid"}));
}

TEST(Expand, AStreamsEventsAreTheMessageAsWrittenRoutedAndKeyedByTheirFields) {
  // A pgstream stream: the event its subscription built is the body, no envelope around it.
  auto o = options({});
  o.outbox = "pgstream_1";
  o.bare_events = true;
  auto topic = Template::compile("orders.{{ queue_name }}");
  ASSERT_TRUE(topic);
  o.routes = {&*topic};
  auto key = Template::compile("{{ group_id }}");
  ASSERT_TRUE(key);
  o.key_template = &*key;
  Expander e(o);
  std::vector<Message> out;
  auto r = row(42, R"({"new": {"id": 456, "total": 99.99}, "old": null, "tg_op": "INSERT", "tg_name": "order-notification", )"
                   R"("group_id": "123", "queue_name": "orders-high-priority"})");
  r.is_event = true;
  e.expand_row(r, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body, R"({"new":{"id":456,"total":99.99},"old":null,"tg_op":"INSERT","tg_name":"order-notification",)"
                         R"("group_id":"123","queue_name":"orders-high-priority"})");
  EXPECT_EQ(out[0].dedup_key, "pgstream_1:42:0");
  EXPECT_EQ(out[0].key, "123");
  EXPECT_EQ(out[0].routes[0], "orders.orders-high-priority");
  // CloudEvents still wrap it: the event is the data.
  o.format = Format::cloudevents;
  Expander ce(o);
  out.clear();
  ce.expand_row(r, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].body.find(R"("data":{"new":{"id":456)"), std::string::npos) << out[0].body;
}

TEST(Expand, ReadsEveryPayloadShapePgTrickleWrote) {
  Expander e(options());
  std::vector<Message> out;
  // 0.28-0.45: a bare array, the whole stream table.
  e.expand_row(row(1, R"([{"id":1},{"id":2}])"), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NE(out[0].body.find(R"("is_full_refresh":true)"), std::string::npos);
  // 0.46+: counts instead of rows: relayed as one event.
  out.clear();
  e.expand_row(row(2, R"({"v":1,"refresh_id":null,"inserted":3,"deleted":0,"source":"public.orders"})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].op, Op::event);
  EXPECT_TRUE(out[0].poison.empty());
}

TEST(Expand, UnreadablePayloadsBecomePoisonMessagesNotSilence) {
  Expander e(options());
  std::vector<Message> out;
  e.expand_row(row(1, R"({"v":2,"rows":[]})"), out);
  e.expand_row(row(2, R"("just a string")"), out);
  e.expand_row(row(3, R"({"v":1,"inserted":{"id":1}})"), out);
  OutboxRow empty = row(4, "");
  e.expand_row(empty, out);
  ASSERT_EQ(out.size(), 4u);
  for (const auto& m : out) EXPECT_FALSE(m.poison.empty()) << m.dedup_key;
  EXPECT_NE(out[0].poison.find("\"v\" is 2"), std::string::npos);
}

TEST(Expand, TruncateIsOneMessage) {
  Expander e(options());
  std::vector<Message> out;
  e.expand_row(row(9, R"({"v":1,"inserted":[],"deleted":[],"full_refresh":true,"truncated":true})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].op, Op::truncate);
}

TEST(Expand, ClaimCheckRowsPairAdjacentDeleteAndInsert) {
  Expander e(options());
  OutboxRow r = row(10, "");
  r.is_claim_check = true;
  std::vector<DeltaRow> rows = {
      {1, true, R"({"id":1,"v":"a"})"}, {2, false, R"({"id":1,"v":"b"})"},  // update of 1
      {3, false, R"({"id":2,"v":"c"})"},                                    // insert of 2
      {4, true, R"({"id":3,"v":"d"})"},                                     // maybe paired with row 5
  };
  std::vector<Message> out;
  size_t consumed = 0;
  e.expand_delta_rows(r, rows, /*last_chunk=*/false, consumed, out);
  EXPECT_EQ(consumed, 3u);  // the trailing DELETE waits for the next chunk
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].op, Op::update);
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:10:1");
  EXPECT_EQ(out[1].op, Op::insert);
  EXPECT_EQ(out[1].dedup_key, "outbox_orders:10:3");

  out.clear();
  std::vector<DeltaRow> rest = {{4, true, R"({"id":3,"v":"d"})"}};
  e.expand_delta_rows(r, rest, /*last_chunk=*/true, consumed, out);
  EXPECT_EQ(consumed, 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].op, Op::delete_);
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:10:4");
}

TEST(Expand, NumericValuesKeepTheirExactDigits) {
  Expander e(options());
  std::vector<Message> out;
  e.expand_row(row(1, R"({"v": 1, "inserted": [{"id": 1, "amount": 42.50, "big": 123456789012345678901234.5}]})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, R"({"id":1,"amount":42.50,"big":123456789012345678901234.5})");
}

TEST(Expand, ACommitTimeBeyondTheCalendarHasANullTimestamp) {
  // created_at = 'infinity' reads as an infinite epoch; year 10000 needs five digits.
  for (double t : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(), 1e300, 253402300800.0}) {
    std::string s;
    util::append_json_timestamp(s, t);
    EXPECT_EQ(s, "null") << t;
  }
  std::string s;
  util::append_json_timestamp(s, 253402300798.5);
  EXPECT_EQ(s, "\"9999-12-31T23:59:58.500Z\"");
}

TEST(Expand, TheFirstRowHasATimestampWhateverItsId) {
  // Id and sequence -1 once matched the empty timestamp cache and gave "timestamp":, not JSON.
  Expander e(options());
  std::vector<Message> out;
  auto r = row(-1, R"({"v":1,"inserted":[{"id":1}]})");
  r.seq = -1;
  e.expand_row(r, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].body.find(R"("timestamp":"2026-04-27T10:15:03.412Z")"), std::string::npos) << out[0].body;
}

TEST(Expand, ABackfilledRowIsAReadMessageWithAnIdentityOfItsOwn) {
  auto t = Template::compile("orders.{{ region }}.{op}");
  ASSERT_TRUE(t);
  auto o = options();
  o.routes = {&*t};
  Expander e(o);
  std::vector<Message> out;
  e.expand_read(4, "17", R"({"id": 17, "region": "eu", "doc": {"a": [1, 2]}})", 1777284903.412, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].op, Op::read);
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:backfill4:17");
  EXPECT_EQ(out[0].key, "17");
  EXPECT_EQ(out[0].routes[0], "orders.eu.read");
  EXPECT_EQ(out[0].data, R"({"id":17,"region":"eu","doc":{"a":[1,2]}})");
  EXPECT_EQ(out[0].body,
            R"({"dedup_key":"outbox_orders:backfill4:17","stream_table":"orders","op":"read","outbox_id":null,"backfill_id":4,)"
            R"("refresh_id":null,"key":"17","timestamp":"2026-04-27T10:15:03.412Z","is_full_refresh":false,)"
            R"("payload":{"id":17,"region":"eu","doc":{"a":[1,2]}}})");

  o.format = Format::cloudevents;
  o.routes.clear();
  Expander ce(o);
  out.clear();
  ce.expand_read(4, "17", R"({"id":17})", 1777284903.412, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body,
            R"({"specversion":"1.0","id":"outbox_orders:backfill4:17","source":"/pgtrickle/orders","type":"pgtrickle.orders.read",)"
            R"("time":"2026-04-27T10:15:03.412Z","subject":"17","datacontenttype":"application/json","backfillid":"4",)"
            R"("data":{"before":null,"after":{"id":17}}})");
}

namespace {

// The documentation's customers table: id int4 (the key), three NOT NULL varchar columns.
std::shared_ptr<const debezium::EventEncoder> customers_encoder(char replica_identity = 'd', bool schemas = false) {
  debezium::TableShape shape;
  shape.database = "postgres";
  shape.schema = "public";
  shape.table = "customers";
  shape.key = {"id"};
  shape.replica_identity = replica_identity;
  debezium::PgType int4{.oid = 23, .name = "int4"}, varchar{.oid = 1043, .typmod = 259, .name = "varchar"};
  shape.columns = {{"id", int4, false}, {"first_name", varchar, false}, {"last_name", varchar, false}, {"email", varchar, false}};
  return std::make_shared<const debezium::EventEncoder>(shape, debezium::EventOptions{"PostgreSQL_server", schemas, {}});
}

ExpandOptions debezium_options(std::shared_ptr<const debezium::EventEncoder> encoder) {
  auto o = options();
  o.stream_table = "customers";
  o.format = Format::debezium;
  o.debezium = std::move(encoder);
  return o;
}

constexpr const char* kAnne = R"({"id": 1, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"})";
constexpr const char* kAnneMarie = R"({"id": 1, "first_name": "Anne Marie", "last_name": "Kretchmar", "email": "annek@noanswer.org"})";

}  // namespace

TEST(ExpandDebezium, CreateUpdateDeleteAreTheConnectorsEventsKeyedByTheKeyObject) {
  Expander e(debezium_options(customers_encoder()));
  std::vector<Message> out;
  e.expand_row(row(1, std::string(R"({"v":1,"inserted":[)") + kAnne + "]}"), out);
  e.expand_row(row(2, std::string(R"({"v":1,"deleted":[)") + kAnne + R"(],"inserted":[)" + kAnneMarie + "]}"), out);
  e.expand_row(row(3, std::string(R"({"v":1,"deleted":[)") + kAnneMarie + "]}"), out);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& m : out) EXPECT_EQ(m.key, R"({"id":1})");
  const auto c = nlohmann::json::parse(out[0].body);
  EXPECT_TRUE(c["before"].is_null());
  EXPECT_EQ(c["after"], nlohmann::json::parse(kAnne));
  EXPECT_EQ(c["op"], "c");
  EXPECT_TRUE(c["transaction"].is_null());
  const auto& s = c["source"];
  EXPECT_EQ(s["connector"], "postgresql");
  EXPECT_EQ(s["name"], "PostgreSQL_server");
  EXPECT_EQ(s["db"], "postgres");
  EXPECT_EQ(s["schema"], "public");
  EXPECT_EQ(s["table"], "customers");
  EXPECT_EQ(s["snapshot"], "false");
  EXPECT_EQ(s["ts_ms"], 1777284903412LL) << "the commit time";
  EXPECT_EQ(s["ts_us"], 1777284903412000LL);
  EXPECT_EQ(s["txId"], 7401) << "the writer's transaction";
  EXPECT_TRUE(s["lsn"].is_null());
  EXPECT_FALSE(out[0].tombstone);
  // The fields in the table's column order, not to_jsonb's.
  EXPECT_NE(out[0].body.find(R"("after":{"id":1,"first_name":"Anne","last_name":"Kretchmar","email":"annek@noanswer.org"})"),
            std::string::npos) << out[0].body;
  // REPLICA IDENTITY DEFAULT, as the WAL gives Debezium: an update whose key stayed has no before; a
  // delete's before has the key, and its other NOT NULL columns at their type's zero (no defaults).
  const auto u = nlohmann::json::parse(out[1].body);
  EXPECT_EQ(u["op"], "u");
  EXPECT_TRUE(u["before"].is_null());
  EXPECT_EQ(u["after"]["first_name"], "Anne Marie");
  const auto d = nlohmann::json::parse(out[2].body);
  EXPECT_EQ(d["op"], "d");
  EXPECT_EQ(d["before"], nlohmann::json({{"id", 1}, {"first_name", ""}, {"last_name", ""}, {"email", ""}}));
  EXPECT_TRUE(d["after"].is_null());
  EXPECT_TRUE(out[2].tombstone) << "a delete is followed by its tombstone";

  auto no_tombstones = debezium_options(customers_encoder('f'));
  no_tombstones.tombstones = false;
  Expander full(no_tombstones);
  out.clear();
  full.expand_row(row(3, std::string(R"({"v":1,"deleted":[)") + kAnneMarie + "]}"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(out[0].body)["before"], nlohmann::json::parse(kAnneMarie)) << "REPLICA IDENTITY FULL";
  EXPECT_FALSE(out[0].tombstone);
}

// A TRUNCATE goes out as op "t" only when skipped_operations does not name it (Debezium's default does).
TEST(ExpandDebezium, SkippedOperationsAreNotSent) {
  auto o = debezium_options(customers_encoder());
  o.skipped_operations = "t";
  Expander skipping(o);
  std::vector<Message> out;
  skipping.expand_row(row(1, R"({"v":1,"truncated":true})"), out);
  skipping.expand_row(row(2, std::string(R"({"v":1,"inserted":[)") + kAnne + "]}"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(out[0].body)["op"], "c");
  o.skipped_operations = "";
  Expander sending(o);
  out.clear();
  sending.expand_row(row(1, R"({"v":1,"truncated":true})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(out[0].body)["op"], "t");
}

TEST(ExpandDebezium, SchemasWrapKeyAndValueInTheJsonConvertersEnvelope) {
  Expander e(debezium_options(customers_encoder('d', true)));
  std::vector<Message> out;
  e.expand_row(row(1, std::string(R"({"v":1,"inserted":[)") + kAnne + "]}"), out);
  ASSERT_EQ(out.size(), 1u);
  const auto key = nlohmann::json::parse(out[0].key);
  EXPECT_EQ(key["payload"], nlohmann::json({{"id", 1}}));
  EXPECT_EQ(key["schema"], nlohmann::json::parse(R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],
                                                     "optional":false,"name":"PostgreSQL_server.public.customers.Key"})"));
  const auto v = nlohmann::json::parse(out[0].body);
  EXPECT_EQ(v["payload"]["op"], "c");
  EXPECT_EQ(v["schema"]["name"], "PostgreSQL_server.public.customers.Envelope");
  EXPECT_EQ(v["schema"]["version"], 2);
  EXPECT_EQ(v["schema"]["fields"][1]["fields"][1],
            nlohmann::json::parse(R"({"type":"string","optional":false,"field":"first_name"})"));
}

TEST(ExpandDebezium, ABackfillsRowsAreReadsMarkedFirstAndLastAsDebeziumsSnapshot) {
  Expander e(debezium_options(customers_encoder()));
  std::vector<Message> out;
  e.expand_read(4, "1", kAnne, 1777284903.412, out);
  e.expand_read(4, "3", R"({"id": 3, "first_name": "C", "last_name": "D", "email": "y"})", 1777284903.412, out);
  e.expand_read(4, "2", R"({"id": 2, "first_name": "snapshot", "last_name": "true", "email": "x"})", 1777284903.412, out);
  e.mark_read(out[0], "first");
  e.mark_read(out[2], "last");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(out[0].body)["op"], "r");
  EXPECT_EQ(nlohmann::json::parse(out[0].body)["source"]["snapshot"], "first");
  EXPECT_EQ(nlohmann::json::parse(out[1].body)["source"]["snapshot"], "true");
  const auto last = nlohmann::json::parse(out[2].body);
  EXPECT_EQ(last["source"]["snapshot"], "last");
  EXPECT_EQ(last["after"]["first_name"], "snapshot") << "row values are left alone";
  // A backfill of one row: its first is its last, and Debezium says "last".
  out.clear();
  e.expand_read(5, "1", kAnne, 1777284903.412, out);
  e.mark_read(out[0], "first");
  e.mark_read(out[0], "last");
  EXPECT_EQ(nlohmann::json::parse(out[0].body)["source"]["snapshot"], "last");
}

TEST(ExpandDebezium, ARowOfAnAlteredTableReadsTheTableAgainOrIsDeadLettered) {
  auto o = debezium_options(customers_encoder());
  int reloads = 0;
  o.reload_debezium = [&]() -> Result<std::shared_ptr<const debezium::EventEncoder>> {
    ++reloads;
    debezium::TableShape shape = o.debezium->shape();
    shape.columns.push_back({"vip", debezium::PgType{.oid = 16, .name = "bool"}, true});
    return std::make_shared<const debezium::EventEncoder>(shape, debezium::EventOptions{"PostgreSQL_server", false, {}});
  };
  Expander e(o);
  std::vector<Message> out;
  e.expand_row(row(1, R"({"v":1,"inserted":[{"id": 2, "first_name": "a", "last_name": "b", "email": "c", "vip": true}]})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(reloads, 1);
  EXPECT_TRUE(out[0].poison.empty()) << out[0].poison;
  EXPECT_EQ(nlohmann::json::parse(out[0].body)["after"]["vip"], true);
  // A field the table no longer has (a row written before its column was dropped): the table is
  // read again once, then the value goes out as it was written.
  e.expand_row(row(2, R"({"v":1,"inserted":[{"id": 3, "first_name": "a", "last_name": "b", "email": "c", "gone": [1]}]})"), out);
  e.expand_row(row(3, R"({"v":1,"inserted":[{"id": 4, "first_name": "a", "last_name": "b", "email": "c", "gone": [2]}]})"), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(reloads, 2);
  EXPECT_TRUE(out[1].poison.empty()) << out[1].poison;
  EXPECT_EQ(nlohmann::json::parse(out[2].body)["after"]["gone"], nlohmann::json::array({2}));
}

TEST(ExpandCloudEvents, BinaryModeSendsTheDataAndEachAttributeAsAHeader) {
  auto o = options();
  o.format = Format::cloudevents;
  o.cloudevents_binary = "ce-";
  o.cloudevents_percent_encode = true;
  Expander e(o);
  std::vector<Message> out;
  e.expand_row(row(3, R"({"v":1,"inserted":[{"id":1,"n":"é"}]})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body, R"({"before":null,"after":{"id":1,"n":"é"}})");
  EXPECT_EQ(out[0].content_type, "application/json");
  std::map<std::string, std::string> h(out[0].headers.begin(), out[0].headers.end());
  EXPECT_EQ(h["ce-specversion"], "1.0");
  EXPECT_EQ(h["ce-id"], "outbox_orders:3:0");
  EXPECT_EQ(h["ce-source"], "/pgtrickle/orders");
  EXPECT_EQ(h["ce-type"], "pgtrickle.orders.insert");
  EXPECT_EQ(h["ce-time"], "2026-04-27T10:15:03.412Z");
  EXPECT_EQ(h["ce-subject"], "1");
  EXPECT_EQ(h["ce-outboxid"], "3");

  // Structured mode says so in its content type; percent-encoding is HTTP's and NATS's only.
  o.cloudevents_binary.clear();
  Expander structured(o);
  out.clear();
  structured.expand_row(row(3, R"({"v":1,"inserted":[{"id":1}]})"), out);
  EXPECT_EQ(out[0].content_type, "application/cloudevents+json");
  EXPECT_TRUE(out[0].headers.empty());
  o.cloudevents_binary = "ce_";
  o.cloudevents_percent_encode = false;
  Expander kafka(o);
  out.clear();
  kafka.expand_row(row(3, R"({"v":1,"inserted":[{"id":"a b"}]})"), out);
  std::map<std::string, std::string> k(out[0].headers.begin(), out[0].headers.end());
  EXPECT_EQ(k["ce_subject"], "a b");
}

// A table's owner names it: ce-source, ce-type and ce-id hold the name, and whatever it holds, each
// attribute stays one header line, on every binding.
TEST(ExpandCloudEvents, BinaryModeAttributesOfANameWithLineBreaksAreHeaderSafe) {
  auto o = options();
  o.outbox = o.stream_table = "orders\r\nAuthorization: x%";
  o.format = Format::cloudevents;
  o.cloudevents_binary = "ce-";
  o.cloudevents_percent_encode = true;
  std::vector<Message> out;
  Expander(o).expand_row(row(3, R"({"v":1,"inserted":[{"id":"1\r\n"}]})"), out);
  ASSERT_EQ(out.size(), 1u);
  std::map<std::string, std::string> h(out[0].headers.begin(), out[0].headers.end());
  EXPECT_EQ(h["ce-id"], "orders%0D%0AAuthorization:%20x%25:3:0");
  EXPECT_EQ(h["ce-source"], "/pgtrickle/orders%0D%0AAuthorization:%20x%25");
  EXPECT_EQ(h["ce-type"], "pgtrickle.orders%0D%0AAuthorization:%20x%25.insert");
  EXPECT_EQ(h["ce-subject"], "1%0D%0A");
  for (const char* prefix : {"ce_", "cloudEvents_"}) {  // Kafka's and AMQP's bindings
    o.cloudevents_binary = prefix;
    o.cloudevents_percent_encode = false;
    out.clear();
    Expander(o).expand_row(row(3, R"({"v":1,"inserted":[{"id":"1\r\n"}]})"), out);
    ASSERT_EQ(out.size(), 1u);
    std::map<std::string, std::string> k(out[0].headers.begin(), out[0].headers.end());
    const std::string p = prefix;
    EXPECT_EQ(k[p + "id"], "orders%0D%0AAuthorization: x%25:3:0");
    EXPECT_EQ(k[p + "source"], "/pgtrickle/orders%0D%0AAuthorization: x%25");
    EXPECT_EQ(k[p + "type"], "pgtrickle.orders%0D%0AAuthorization: x%25.insert");
    EXPECT_EQ(k[p + "subject"], "1%0D%0A");
    EXPECT_EQ(k[p + "partitionkey"], "1%0D%0A");
  }
}

// A table owner names columns, schemas and enum labels: whatever they hold, the events and their
// schemas stay valid JSON that says exactly those names.
TEST(ExpandDebezium, HostileNamesStayInsideTheirJsonStrings) {
  debezium::TableShape shape;
  shape.database = "d\"b";
  shape.schema = "s\\c\nh";
  shape.table = "t\",\"op\":\"x";
  shape.key = {"i\"d"};
  debezium::PgType int4{.oid = 23, .name = "int4"};
  debezium::PgType mood{.oid = 70000, .typtype = 'e', .name = "mood", .enum_labels = "a\"b,c\\d"};
  shape.columns = {{"i\"d", int4, false}, {"m\"}],\"x\":{", mood, true}};
  auto o = options({"i\"d"});
  o.format = Format::debezium;
  o.debezium = std::make_shared<const debezium::EventEncoder>(shape, debezium::EventOptions{"p\"x", true, {}});
  Expander e(o);
  std::vector<Message> out;
  e.expand_row(row(1, R"({"v":1,"inserted":[{"i\"d": 1, "m\"}],\"x\":{": "a\"b"}]})"), out);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].poison.empty()) << out[0].poison;
  const auto v = nlohmann::json::parse(out[0].body);
  const auto k = nlohmann::json::parse(out[0].key);
  EXPECT_EQ(v["payload"]["after"]["m\"}],\"x\":{"], "a\"b");
  EXPECT_EQ(v["payload"]["source"]["table"], "t\",\"op\":\"x");
  EXPECT_EQ(v["payload"]["source"]["schema"], "s\\c\nh");
  EXPECT_EQ(v["payload"]["op"], "c");
  EXPECT_EQ(k["payload"], nlohmann::json({{"i\"d", 1}}));
  EXPECT_EQ(v["schema"]["fields"][1]["fields"][1]["parameters"]["allowed"], "a\"b,c\\d");
}

// How the install writes a WAL table's name in messages: each part as is, or double-quoted (inner
// quotes doubled) when it holds a '.' or a '"'; no schema for public.
TEST(StreamTableName, SplitsQuoteAware) {
  EXPECT_EQ(split_stream_table("orders"), (TableName{"public", "orders"}));
  EXPECT_EQ(split_stream_table("sales.orders"), (TableName{"sales", "orders"}));
  EXPECT_EQ(split_stream_table("\"v.orders\""), (TableName{"public", "v.orders"}));
  EXPECT_EQ(split_stream_table("\"a\"\"b\".c"), (TableName{"a\"b", "c"}));
  EXPECT_EQ(split_stream_table("\"s.x\".\"t.y\""), (TableName{"s.x", "t.y"}));
  EXPECT_EQ(split_stream_table("sales.\"v.\"\"o\""), (TableName{"sales", "v.\"o"}));
  EXPECT_EQ(split_stream_table("\"\"\"\""), (TableName{"public", "\""}));
  EXPECT_EQ(split_stream_table("Sales.Orders"), (TableName{"Sales", "Orders"})) << "no case folding";
  EXPECT_EQ(split_stream_table("s\r\n.t x"), (TableName{"s\r\n", "t x"}));
  // Names not written by that rule are split at their first dot, as before.
  EXPECT_EQ(split_stream_table("a.b.c"), (TableName{"a", "b.c"}));
  EXPECT_EQ(split_stream_table("\"unterminated.x"), (TableName{"\"unterminated", "x"}));
  EXPECT_EQ(split_stream_table("\"a\"b"), (TableName{"public", "\"a\"b"}));
  EXPECT_EQ(split_stream_table(""), (TableName{"public", ""}));
}

// {schema} and {table} are the options' (the WAL's relation names them), never split from the name
// in messages.
TEST(Expand, SchemaAndTableAreTheOnesGivenNotSplitFromTheStreamTable) {
  auto t = Template::compile("cdc.{schema}.{table}.{op}");
  ASSERT_TRUE(t);
  auto o = options();
  o.stream_table = "\"a\"\"b\".\"v.orders\"";
  o.schema = "a\"b";
  o.table = "v.orders";
  o.routes = {&*t};
  std::vector<Message> out;
  Expander(o).expand_row(row(1, R"({"v":1,"inserted":[{"id":1}]})"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].routes[0], "cdc.a\"b.v.orders.insert");
  EXPECT_EQ(out[0].source, "\"a\"\"b\".\"v.orders\"");
}

// The marker of a rebuilt slot's gap goes on the table's routes, in each format, before the backfill.
TEST(Expand, AGapMarkerSaysWhatIsUnknownInEachFormat) {
  SlotGap gap{"pgtrickle_abc", "0/18239D0", "0/7FF1038", 1777284903.412};
  auto o = options();
  auto t = Template::compile("orders.{op}");
  ASSERT_TRUE(t);
  o.routes = {&*t};
  Expander e(o);
  std::vector<Message> out;
  e.expand_gap(gap, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].op, Op::gap);
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:gap:0/7FF1038");
  EXPECT_EQ(out[0].routes[0], "orders.gap");
  auto body = nlohmann::json::parse(out[0].body);
  EXPECT_EQ(body["op"], "gap");
  EXPECT_EQ(body["stream_table"], "orders");
  EXPECT_TRUE(body["payload"].is_null());
  EXPECT_EQ(body["timestamp"], "2026-04-27T10:15:03.412Z");
  EXPECT_EQ(body["gap"]["slot"], "pgtrickle_abc");
  EXPECT_EQ(body["gap"]["from_lsn"], "0/18239D0");
  EXPECT_EQ(body["gap"]["to_lsn"], "0/7FF1038");
  EXPECT_NE(body["gap"]["unknown"].get<std::string>().find("deleted"), std::string::npos);

  o.format = Format::cloudevents;
  o.routes.clear();
  Expander ce(o);
  out.clear();
  ce.expand_gap(gap, out);
  auto event = nlohmann::json::parse(out[0].body);
  EXPECT_EQ(event["type"], "pgtrickle.orders.gap");
  EXPECT_EQ(event["id"], "outbox_orders:gap:0/7FF1038");
  EXPECT_EQ(event["data"]["to_lsn"], "0/7FF1038");
}

TEST(ExpandDebezium, AGapMarkerIsALogicalDecodingMessageEvent) {
  SlotGap gap{"pgtrickle_abc", "0/18239D0", "0/7FF1038", 1777284903.412};
  for (bool schemas : {false, true}) {
    Expander e(debezium_options(customers_encoder('d', schemas)));
    std::vector<Message> out;
    e.expand_gap(gap, out);
    ASSERT_EQ(out.size(), 1u);
    auto key = nlohmann::json::parse(out[0].key), value = nlohmann::json::parse(out[0].body);
    if (schemas) {
      EXPECT_EQ(key["schema"]["name"], "io.debezium.connector.postgresql.MessageKey");
      EXPECT_EQ(value["schema"]["name"], "io.debezium.connector.postgresql.MessageValue");
      key = key["payload"];
      value = value["payload"];
    }
    EXPECT_EQ(key["prefix"], "pgtrickle.gap");
    EXPECT_EQ(value["op"], "m");
    EXPECT_EQ(value["source"]["table"], "customers");
    EXPECT_EQ(value["message"]["prefix"], "pgtrickle.gap");
    EXPECT_EQ(value["message"]["content"], util::base64_encode(gap.json())) << "the gap object, as Connect bytes";
    EXPECT_EQ(nlohmann::json::parse(gap.json())["to_lsn"], "0/7FF1038");
    EXPECT_FALSE(out[0].tombstone);
  }
}

// ---- format outbox_event_router ---------------------------------------------------------------

namespace {

// Debezium's outbox table: id uuid, aggregatetype, aggregateid, type, payload jsonb, and a tenant.
std::shared_ptr<const debezium::EventEncoder> outbox_encoder(bool schemas = false) {
  debezium::TableShape shape;
  shape.database = "shop";
  shape.schema = "public";
  shape.table = "outbox";
  shape.key = {"id"};
  debezium::PgType uuid{.oid = 2950, .name = "uuid"}, text{.oid = 25, .name = "text"}, jsonb{.oid = 3802, .name = "jsonb"},
      int4{.oid = 23, .name = "int4"};
  shape.columns = {{"id", uuid, false}, {"aggregatetype", text, false}, {"aggregateid", text, false}, {"type", text, false},
                   {"payload", jsonb, true}, {"tenant", int4, true}};
  return std::make_shared<const debezium::EventEncoder>(shape, debezium::EventOptions{"shop", schemas, {}});
}

ExpandOptions router_options(debezium::RouterOptions router, bool schemas = false) {
  auto o = options();
  o.stream_table = "outbox";
  o.format = Format::outbox_event_router;
  o.debezium = outbox_encoder(schemas);
  o.router = std::make_shared<const debezium::OutboxEventRouter>(std::move(router), schemas);
  return o;
}

constexpr const char* kOrderCreated =
    R"({"id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "aggregatetype": "order", "aggregateid": "o-1", "type": "OrderCreated", )"
    R"("payload": {"gift": null, "tags": [], "lines": [{"qty": 1, "sku": "x"}, {"sku": "y", "note": null}], "total": 2.50}, "tenant": 7})";

std::string inserted(const char* row) { return std::string(R"({"v":1,"inserted":[)") + row + "]}"; }

}  // namespace

TEST(ExpandOutboxEventRouter, AnInsertIsItsPayloadKeyedByTheAggregateWithTheEventIdInAHeader) {
  Expander e(router_options({}));
  std::vector<Message> out;
  e.expand_row(row(1, inserted(kOrderCreated)), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].poison, "");
  EXPECT_EQ(out[0].key, R"("o-1")");  // JsonConverter's string
  // Unexpanded, the jsonb payload is a JSON string of PostgreSQL's jsonb text, as Debezium sends it.
  EXPECT_EQ(out[0].body, nlohmann::json(R"({"gift": null, "tags": [], "lines": [{"qty": 1, "sku": "x"}, {"sku": "y", "note": null}], "total": 2.50})").dump());
  ASSERT_EQ(out[0].headers.size(), 1u);
  EXPECT_EQ(out[0].headers[0], (Header{"id", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}));
  EXPECT_FALSE(out[0].tombstone);
}

TEST(ExpandOutboxEventRouter, DeletesAreNotSentAndUpdatesAsTableOpInvalidBehaviorSays) {
  auto o = router_options({});
  int skipped = 0;
  o.skipped_update = [&](std::string_view table) {
    EXPECT_EQ(table, "outbox");
    ++skipped;
  };
  Expander e(o);
  std::vector<Message> out;
  const std::string changed = std::string(kOrderCreated).replace(std::string(kOrderCreated).find("o-1"), 3, "o-2");
  e.expand_row(row(1, std::string(R"({"v":1,"deleted":[)") + kOrderCreated + "]}"), out);
  e.expand_row(row(2, std::string(R"({"v":1,"deleted":[)") + kOrderCreated + R"(],"inserted":[)" + changed + "]}"), out);
  EXPECT_EQ(out.size(), 0u);
  EXPECT_EQ(skipped, 1);

  debezium::RouterOptions fatal;
  fatal.on_update = debezium::RouterOptions::OnUpdate::fatal;
  Expander strict(router_options(fatal));
  strict.expand_row(row(2, std::string(R"({"v":1,"deleted":[)") + kOrderCreated + R"(],"inserted":[)" + changed + "]}"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].poison.find("table.op.invalid.behavior"), std::string::npos) << out[0].poison;
}

TEST(ExpandOutboxEventRouter, ExpandedPayloadsLeaveOutNullsAndEmptyArraysAsDebeziumInfersTheirSchema) {
  debezium::RouterOptions r;
  r.expand_json = true;
  Expander e(router_options(r));
  std::vector<Message> out;
  e.expand_row(row(1, inserted(kOrderCreated)), out);
  ASSERT_EQ(out.size(), 1u);
  // Fields in jsonb's order; "gift" (null) and "tags" (empty) have no schema and are left out; the
  // lines' objects share one schema, the union of their fields; 2.50 is a double.
  EXPECT_EQ(out[0].body, R"({"lines":[{"qty":1,"sku":"x"},{"qty":null,"sku":"y"}],"total":2.5})");

  r.null_as_bytes = r.empty_array_as_strings = true;
  Expander keeping(router_options(r, true));
  out.clear();
  keeping.expand_row(row(1, inserted(kOrderCreated)), out);
  ASSERT_EQ(out.size(), 1u);
  auto v = nlohmann::json::parse(out[0].body);
  EXPECT_EQ(v["payload"], nlohmann::json::parse(R"({"gift":null,"tags":[],"lines":[{"qty":1,"sku":"x","note":null},{"qty":null,"sku":"y","note":null}],"total":2.5})"));
  EXPECT_EQ(v["schema"]["name"], "payload");
  EXPECT_EQ(v["schema"]["fields"][0], nlohmann::json::parse(R"({"type":"bytes","optional":true,"field":"gift"})"));
  EXPECT_EQ(v["schema"]["fields"][1], nlohmann::json::parse(R"({"type":"array","items":{"type":"string","optional":true},"optional":true,"field":"tags"})"));
  EXPECT_EQ(v["schema"]["fields"][2]["items"]["name"], "payload.lines");
  EXPECT_EQ(v["schema"]["fields"][2]["items"]["optional"], false) << "Debezium's union of differing objects is not optional";
  EXPECT_EQ(v["schema"]["fields"][3], nlohmann::json::parse(R"({"type":"double","optional":true,"field":"total"})"));
}

TEST(ExpandOutboxEventRouter, APayloadDebeziumCannotExpandStaysItsText) {
  debezium::RouterOptions r;
  r.expand_json = true;
  Expander e(router_options(r));
  std::vector<Message> out;
  for (const char* payload : {R"([1, 2])", R"({"mixed": [1, "a"]})", R"({"big": 12345678901234567890})", R"({"widths": [1, 3000000000]})"}) {
    std::string r = kOrderCreated;
    auto at = r.find(R"("payload": )") + 11;
    r.replace(at, r.find(R"(, "tenant")") - at, payload);
    e.expand_row(row(1, inserted(r.c_str())), out);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back().body, nlohmann::json(payload).dump()) << payload;
  }
}

TEST(ExpandOutboxEventRouter, AdditionalColumnsGoToHeadersOrBesideThePayload) {
  debezium::RouterOptions r;
  r.additional = {{"type", debezium::RouterOptions::Placement::header, "eventType"},
                  {"tenant", debezium::RouterOptions::Placement::envelope, "tenant"},
                  {"aggregatetype", debezium::RouterOptions::Placement::envelope, "kind"}};
  Expander e(router_options(r, true));
  std::vector<Message> out;
  e.expand_row(row(1, inserted(kOrderCreated)), out);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].headers.size(), 2u);
  EXPECT_EQ(out[0].headers[1], (Header{"eventType", "OrderCreated"}));
  auto v = nlohmann::json::parse(out[0].body);
  EXPECT_EQ(v["payload"]["tenant"], 7);
  EXPECT_EQ(v["payload"]["kind"], "order");
  EXPECT_EQ(v["schema"]["name"], "shop.public.outbox.order.Value");
  EXPECT_EQ(v["schema"]["fields"][0], nlohmann::json::parse(R"({"type":"string","optional":true,"name":"io.debezium.data.Json","version":1,"field":"payload"})"));
  EXPECT_EQ(v["schema"]["fields"][1], nlohmann::json::parse(R"({"type":"int32","optional":true,"field":"tenant"})"));
  auto k = nlohmann::json::parse(out[0].key);
  EXPECT_EQ(k, nlohmann::json::parse(R"({"schema":{"type":"string","optional":false},"payload":"o-1"})"));

  r.additional = {{"region", debezium::RouterOptions::Placement::header, "region"}};
  Expander missing(router_options(r));
  out.clear();
  missing.expand_row(row(1, inserted(kOrderCreated)), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].poison.find("\"region\""), std::string::npos) << out[0].poison;
  r.ignore_missing_additional = true;
  Expander ignoring(router_options(r));
  out.clear();
  ignoring.expand_row(row(1, inserted(kOrderCreated)), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].poison, "");
}

TEST(ExpandOutboxEventRouter, DoublesAreWrittenAsJavaWritesThem) {
  auto java = [](double d) {
    std::string s;
    debezium::append_java_double(s, d);
    return s;
  };
  EXPECT_EQ(java(2.5), "2.5");
  EXPECT_EQ(java(100), "100.0");
  EXPECT_EQ(java(0.001), "0.001");
  EXPECT_EQ(java(0.0001), "1.0E-4");
  EXPECT_EQ(java(1e7), "1.0E7");
  EXPECT_EQ(java(1234567.5), "1234567.5");
  EXPECT_EQ(java(-1.25e-10), "-1.25E-10");
  EXPECT_EQ(java(0.1), "0.1");
  EXPECT_EQ(java(-0.0), "-0.0");
}

TEST(ExpandOutboxEventRouter, APipelinesKeyTemplateGivesAPlainStringKey) {
  auto o = router_options({});
  auto t = Template::compile("{{ aggregateid }}");
  ASSERT_TRUE(t);
  o.key_template = &*t;
  o.key_given = true;
  Expander e(o);
  std::vector<Message> out;
  e.expand_row(row(1, inserted(kOrderCreated)), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, "o-1") << "as Kafka Connect's StringConverter writes it";
}
