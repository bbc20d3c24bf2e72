// How a delivered AMQP message becomes a Message: identity, subject, properties and headers,
// field values as text.
#if RELAY_WITH_RABBITMQ
#include <gtest/gtest.h>

#include <vector>

#include "backends/rabbitmq/rabbitmq_encode.h"
#include "backends/rabbitmq/rabbitmq_delivery.h"

using namespace relay;
using namespace relay::rabbitmq;

namespace {

amqp_field_value_t text_value(std::string_view s) {
  amqp_field_value_t v{};
  v.kind = AMQP_FIELD_KIND_UTF8;
  v.value.bytes = bytes(s);
  return v;
}

amqp_table_entry_t entry(std::string_view key, amqp_field_value_t v) {
  amqp_table_entry_t e{};
  e.key = bytes(key);
  e.value = v;
  return e;
}

std::string header(const Message& m, const std::string& name) {
  for (const auto& [k, v] : m.headers)
    if (k == name) return v;
  return "<absent>";
}

TEST(RabbitmqSourceDelivery, TheMessageIdIsTheIdentityAndTheRoutingKeyTheSubject) {
  amqp_basic_properties_t p{};
  p._flags = AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_TYPE_FLAG |
             AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_APP_ID_FLAG;
  p.message_id = bytes("pay-42");
  p.content_type = bytes("application/json");
  p.timestamp = 1714212903;
  p.type = bytes("PaymentReceived");
  p.correlation_id = bytes("order-7");
  p.app_id = bytes("billing");
  Message m;
  decode_delivery("payments", "payments.eu.received", p, R"({"amount": 10})", m);
  EXPECT_EQ(m.dedup_key, "pay-42");
  EXPECT_EQ(m.subject, "payments.eu.received");
  EXPECT_EQ(m.source, "rabbitmq:payments");
  EXPECT_EQ(m.data, R"({"amount": 10})");
  EXPECT_EQ(m.key, "");
  EXPECT_EQ(m.op, Op::event);
  EXPECT_DOUBLE_EQ(m.committed_at, 1714212903);
  std::vector<Header> want{{"content-type", "application/json"}, {"correlation-id", "order-7"}, {"message-id", "pay-42"},
                           {"timestamp", "1714212903"}, {"type", "PaymentReceived"}, {"app-id", "billing"}};
  EXPECT_EQ(m.headers, want);
}

TEST(RabbitmqSourceDelivery, WithoutAMessageIdTheIdentityIsTheDigestOfTheBody) {
  amqp_basic_properties_t none{};
  Message a, b, c;
  decode_delivery("q", "q", none, "abc", a);
  EXPECT_EQ(a.dedup_key, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  amqp_basic_properties_t empty_id{};
  empty_id._flags = AMQP_BASIC_MESSAGE_ID_FLAG;
  empty_id.message_id = bytes("");
  decode_delivery("q", "q", empty_id, "abc", b);
  EXPECT_EQ(b.dedup_key, a.dedup_key) << "an empty message-id is no identity";
  decode_delivery("q", "q", none, "abd", c);
  EXPECT_NE(c.dedup_key, a.dedup_key);
  EXPECT_EQ(a.committed_at, 0);
  EXPECT_TRUE(a.headers.empty());
}

TEST(RabbitmqSourceDelivery, TheHeadersTableFollowsThePropertiesWhichWinOnAClash) {
  std::vector<amqp_table_entry_t> entries{entry("x-request-id", text_value("r-1")), entry("type", text_value("from-table")),
                                          entry("traceparent", text_value("00-abc-def-01"))};
  amqp_basic_properties_t p{};
  p._flags = AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_HEADERS_FLAG;
  p.type = bytes("from-property");
  p.headers.num_entries = static_cast<int>(entries.size());
  p.headers.entries = entries.data();
  Message m;
  decode_delivery("q", "rk", p, "{}", m);
  std::vector<Header> want{{"type", "from-property"}, {"x-request-id", "r-1"}, {"traceparent", "00-abc-def-01"}};
  EXPECT_EQ(m.headers, want);
}

TEST(RabbitmqSourceDelivery, ATimestampInMillisecondsIsReadAsSuch) {
  amqp_basic_properties_t p{};
  p._flags = AMQP_BASIC_TIMESTAMP_FLAG;
  p.timestamp = 1714212903412ull;
  Message m;
  decode_delivery("q", "q", p, "{}", m);
  EXPECT_DOUBLE_EQ(m.committed_at, 1714212903.412);
  EXPECT_EQ(header(m, "timestamp"), "1714212903412");
}

TEST(RabbitmqSourceDelivery, FieldValuesAsText) {
  amqp_field_value_t v{};
  v.kind = AMQP_FIELD_KIND_BOOLEAN;
  v.value.boolean = 1;
  EXPECT_EQ(field_text(v), "true");
  v.kind = AMQP_FIELD_KIND_I32;
  v.value.i32 = -42;
  EXPECT_EQ(field_text(v), "-42");
  v.kind = AMQP_FIELD_KIND_U8;
  v.value.u8 = 200;
  EXPECT_EQ(field_text(v), "200");
  v.kind = AMQP_FIELD_KIND_I64;
  v.value.i64 = 9007199254740993LL;
  EXPECT_EQ(field_text(v), "9007199254740993");
  v.kind = AMQP_FIELD_KIND_F64;
  v.value.f64 = 2.5;
  EXPECT_EQ(field_text(v), "2.5");
  v.kind = AMQP_FIELD_KIND_DECIMAL;
  v.value.decimal = {2, 1050};
  EXPECT_EQ(field_text(v), "10.50");
  v.value.decimal = {3, 5};
  EXPECT_EQ(field_text(v), "0.005");
  v.kind = AMQP_FIELD_KIND_TIMESTAMP;
  v.value.u64 = 1714212903;
  EXPECT_EQ(field_text(v), "1714212903");
  v.kind = AMQP_FIELD_KIND_BYTES;
  v.value.bytes = bytes("raw");
  EXPECT_EQ(field_text(v), "raw");
  v.kind = AMQP_FIELD_KIND_VOID;
  EXPECT_EQ(field_text(v), "");

  // Nested values as JSON: an array of a string and a table.
  std::vector<amqp_table_entry_t> inner{entry("k", text_value("v"))};
  amqp_field_value_t table{};
  table.kind = AMQP_FIELD_KIND_TABLE;
  table.value.table.num_entries = 1;
  table.value.table.entries = inner.data();
  std::vector<amqp_field_value_t> items{text_value("a\"b"), table};
  amqp_field_value_t array{};
  array.kind = AMQP_FIELD_KIND_ARRAY;
  array.value.array.num_entries = 2;
  array.value.array.entries = items.data();
  EXPECT_EQ(field_text(array), R"(["a\"b",{"k":"v"}])");
}

}  // namespace
#endif
