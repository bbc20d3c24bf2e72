// How a JetStream delivery becomes a relay Message: the ack subject's metadata, the dedup identity,
// subject, source, headers and timestamps.
#if RELAY_WITH_NATS
#include <gtest/gtest.h>

#include "backends/nats/nats_decode.h"

using namespace relay;
using namespace relay::nats;

TEST(NatsSourceDecode, AckSubjectV1GivesStreamSequenceTimestampAndPending) {
  auto d = parse_ack_subject("$JS.ACK.commands.relay-consumer.2.1234.17.1700000000123456789.42");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->stream, "commands");
  EXPECT_EQ(d->consumer, "relay-consumer");
  EXPECT_EQ(d->delivered, 2u);
  EXPECT_EQ(d->stream_seq, 1234u);
  EXPECT_EQ(d->consumer_seq, 17u);
  EXPECT_EQ(d->timestamp_ns, 1700000000123456789);
  EXPECT_EQ(d->pending, 42u);
}

TEST(NatsSourceDecode, AckSubjectV2WithDomainAndAccountHash) {
  auto d = parse_ack_subject("$JS.ACK.hub.ACCHASH.orders.c1.1.99.98.1700000000000000000.0.Xyz");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->stream, "orders");
  EXPECT_EQ(d->consumer, "c1");
  EXPECT_EQ(d->stream_seq, 99u);
  EXPECT_EQ(d->consumer_seq, 98u);
  EXPECT_EQ(d->pending, 0u);
}

TEST(NatsSourceDecode, NotAnAckSubjectIsRefused) {
  EXPECT_FALSE(parse_ack_subject(""));
  EXPECT_FALSE(parse_ack_subject("_INBOX.abc.1"));
  EXPECT_FALSE(parse_ack_subject("$JS.ACK.s.c.1.x.3.4.5"));          // a sequence that is no number
  EXPECT_FALSE(parse_ack_subject("$JS.ACK.s.c.1.2.3.4"));            // a token short
  EXPECT_FALSE(parse_ack_subject("$JS.ACK.s.c.1.2.3.4.5.6"));        // 10 tokens: neither form
}

TEST(NatsSourceDecode, NatsMsgIdIsTheIdentityInAnyCase) {
  Delivery d;
  d.stream_seq = 7;
  d.timestamp_ns = 1700000000500000000;
  Message m = to_message("commands", "commands.orders.create", R"({"id":1})",
                         {{"nats-msg-id", "order-1"}, {"traceparent", "00-ab"}}, d);
  EXPECT_EQ(m.dedup_key, "order-1");
  EXPECT_EQ(m.subject, "commands.orders.create");
  EXPECT_EQ(m.source, "nats:commands");
  EXPECT_EQ(m.data, R"({"id":1})");
  EXPECT_EQ(m.op, Op::event);
  EXPECT_TRUE(m.key.empty());
  EXPECT_DOUBLE_EQ(m.committed_at, 1700000000.5);
  ASSERT_EQ(m.headers.size(), 2u);
  EXPECT_EQ(m.headers[1], (Header{"traceparent", "00-ab"}));
}

TEST(NatsSourceDecode, WithoutAMsgIdTheStreamSequenceIsTheIdentity) {
  Delivery d;
  d.stream_seq = 1234;
  EXPECT_EQ(to_message("commands", "a", "x", {}, d).dedup_key, "commands:1234");
  EXPECT_EQ(to_message("commands", "a", "x", {{"Nats-Msg-Id", ""}}, d).dedup_key, "commands:1234") << "an empty id is no identity";
}

TEST(NatsSourceDecode, TheBodyIsKeptByteForByte) {
  std::string body("\x00\xff not json", 11);
  EXPECT_EQ(to_message("s", "a", body, {}, Delivery{}).data, body);
}
#endif
