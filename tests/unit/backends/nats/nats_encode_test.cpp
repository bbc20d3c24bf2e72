// NATS wire form: headers, subject checks and the stream layout derived from a subject template.
#include <gtest/gtest.h>

#include "config/template.h"
#include "backends/nats/nats_encode.h"

using namespace relay;
using namespace std::string_literals;

TEST(NatsEncode, HeadersCarryTheDedupKeyAsNatsMsgIdThenTheApplicationHeaders) {
  Message m;
  m.dedup_key = "outbox_orders:42:0";
  m.op = Op::update;
  m.headers = {{"traceparent", "00-abc-def-01"}, {"tenant", "eu"}};
  std::string id_buf;
  auto h = nats::headers(m, id_buf);
  std::vector<std::pair<std::string_view, std::string_view>> expected{{"Nats-Msg-Id", "outbox_orders:42:0"},
                               {"traceparent", "00-abc-def-01"},
                               {"tenant", "eu"}};
  EXPECT_EQ(h, expected);
}

// A table's owner names it, and its name is the first part of the identity: whatever it holds, the
// header block keeps its headers (NATS/1.0 headers are lines, as HTTP's are).
TEST(NatsEncode, ANameWithLineBreaksStaysInsideNatsMsgId) {
  Message m;
  m.dedup_key = "orders\r\nAuthorization: x%\0:7:0"s;
  m.headers = {{"ce-source", "/pgtrickle/orders%0D%0A"},
               {"X-Split", "a\r\nInjected: yes"},
               {"X-Nul", "a\0b"s},
               {"bad name", "v"},
               {"Bad:Name", "v"},
               {"X-Ok", "fine"}};
  std::string id_buf;
  auto h = nats::headers(m, id_buf);
  std::vector<std::pair<std::string_view, std::string_view>> expected{
      {"Nats-Msg-Id", "orders%0D%0AAuthorization: x%25%00:7:0"}, {"ce-source", "/pgtrickle/orders%0D%0A"}, {"X-Ok", "fine"}};
  EXPECT_EQ(h, expected);
  EXPECT_EQ(h[0].second.data()[h[0].second.size()], '\0') << "nats.c reads the value up to its NUL";
  // The same message gets the same identity on every try; one without anything to encode keeps its own.
  std::string again;
  EXPECT_EQ(nats::headers(m, again)[0].second, h[0].second);
  m.dedup_key = "orders:7:0";
  EXPECT_EQ(nats::headers(m, again)[0].second.data(), m.dedup_key.data());
}

TEST(NatsEncode, SubjectProblemsAreNamed) {
  EXPECT_EQ(nats::subject_problem("pgtrickle.orders.insert"), "");
  EXPECT_EQ(nats::subject_problem(""), "the subject is empty");
  EXPECT_EQ(nats::subject_problem("orders..insert"), "the subject \"orders..insert\" has an empty token");
  EXPECT_EQ(nats::subject_problem("orders.>"), "the subject \"orders.>\" has a wildcard token");
  EXPECT_EQ(nats::subject_problem("orders.*.x"), "the subject \"orders.*.x\" has a wildcard token");
  EXPECT_EQ(nats::subject_problem("orders.new york"), "the subject \"orders.new york\" contains whitespace");
  EXPECT_EQ(nats::subject_problem("orders."), "the subject \"orders.\" has an empty token");
}

TEST(NatsEncode, StreamSubjectsCoverWhatTheTemplateRenders) {
  auto subject_of = [](const std::string& text) {
    auto t = Template::compile(text);
    EXPECT_TRUE(t);
    return nats::stream_subject(text, t->literal_prefix());
  };
  EXPECT_EQ(subject_of("pgtrickle.{stream_table}.{op}"), "pgtrickle.>");
  EXPECT_EQ(subject_of("revenue.{{ region }}"), "revenue.>");
  EXPECT_EQ(subject_of("a.b.c{op}"), "a.b.>");  // a variable inside a token: cover from the last whole token
  EXPECT_EQ(subject_of("orders.created"), "orders.created");
  EXPECT_EQ(subject_of("{stream_table}.events"), "");
  EXPECT_EQ(nats::default_stream_name("pgtrickle.>"), "pgtrickle");
  EXPECT_EQ(nats::default_stream_name("a.b.>"), "a_b");
  EXPECT_EQ(nats::default_stream_name("orders.created"), "orders_created");
}

TEST(NatsEncode, PubAcksSayStoredOrWhyNot) {
  EXPECT_TRUE(nats::parse_pub_ack(R"({"stream":"ORDERS","seq":42})").stored);
  EXPECT_TRUE(nats::parse_pub_ack(R"({"stream":"ORDERS","seq":42,"duplicate":true})").stored);
  auto too_big = nats::parse_pub_ack(
      R"({"error":{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"},"stream":"ORDERS","seq":0})");
  EXPECT_FALSE(too_big.stored);
  EXPECT_EQ(too_big.err_code, 10054);
  EXPECT_EQ(too_big.error, "message size exceeds maximum allowed");
  auto garbled = nats::parse_pub_ack("+OK");
  EXPECT_FALSE(garbled.stored);
  EXPECT_EQ(garbled.error, "unreadable PubAck: +OK");
  EXPECT_FALSE(nats::parse_pub_ack(R"({"stream":"ORDERS"})").stored);
}

TEST(NatsEncode, ReplySubjectsNameTheBatchAndTheMessage) {
  std::string s = nats::reply_subject("_INBOX.abc", 7, 4999);
  EXPECT_EQ(s, "_INBOX.abc.7-4999");
  std::uint32_t generation = 0;
  std::size_t index = 0;
  ASSERT_TRUE(nats::parse_reply_subject(s, generation, index));
  EXPECT_EQ(generation, 7u);
  EXPECT_EQ(index, 4999u);
  EXPECT_FALSE(nats::parse_reply_subject("_INBOX.abc.7", generation, index));
  EXPECT_FALSE(nats::parse_reply_subject("_INBOX.abc.7-", generation, index));
  EXPECT_FALSE(nats::parse_reply_subject("_INBOX.abc.x-1", generation, index));
  EXPECT_FALSE(nats::parse_reply_subject("nodots", generation, index));
}
