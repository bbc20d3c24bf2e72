// The RabbitMQ wire form (AMQP properties and headers, field by field), the url and the error tables.
#if RELAY_WITH_RABBITMQ
#include <gtest/gtest.h>

#include "backends/rabbitmq/rabbitmq_encode.h"

using namespace relay;
using namespace relay::rabbitmq;
using namespace std::string_literals;

namespace {

std::string str(amqp_bytes_t b) { return std::string(view(b)); }

TEST(RabbitmqEncode, PersistentJsonWithTheDedupKeyAsMessageId) {
  Message m;
  m.dedup_key = "orders:42:1";
  m.op = Op::update;
  m.source = "orders";
  m.key = "7";
  m.committed_at = 1714212903.412;
  m.headers = {{"traceparent", "00-ab-01"}};
  Publish p;
  encode(m, p);
  EXPECT_EQ(p.props._flags, AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                                AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_TIMESTAMP_FLAG);
  EXPECT_EQ(str(p.props.content_type), "application/json");
  EXPECT_EQ(p.props.delivery_mode, 2);
  EXPECT_EQ(str(p.props.message_id), "orders:42:1");
  EXPECT_EQ(str(p.props.app_id), "pgtrickle-relay");
  EXPECT_EQ(p.props.timestamp, 1714212903u);
  ASSERT_EQ(p.props.headers.num_entries, 4);
  EXPECT_EQ(p.props.headers.entries, p.headers.data());
  const std::pair<const char*, const char*> expected[] = {
      {"pgtrickle-op", "update"}, {"pgtrickle-stream-table", "orders"}, {"pgtrickle-key", "7"}, {"traceparent", "00-ab-01"}};
  for (int i = 0; i < 4; ++i) {
    const auto& e = p.props.headers.entries[i];
    EXPECT_EQ(str(e.key), expected[i].first);
    EXPECT_EQ(e.value.kind, AMQP_FIELD_KIND_UTF8);
    EXPECT_EQ(str(e.value.value.bytes), expected[i].second);
  }
  // Views, not copies: the message-id points into the Message.
  EXPECT_EQ(p.props.message_id.bytes, m.dedup_key.data());
}

TEST(RabbitmqEncode, NoKeyNoTimestampAndReuseStartsClean) {
  Message a;
  a.dedup_key = "t:1:0";
  a.source = "t";
  a.key = "k";
  a.headers = {{"h1", "v1"}, {"h2", "v2"}};
  a.committed_at = 5;
  Message b;
  b.dedup_key = "t:2:0";
  b.op = Op::delete_;
  b.source = "t";
  Publish p;
  encode(a, p);
  encode(b, p);
  EXPECT_FALSE(p.props._flags & AMQP_BASIC_TIMESTAMP_FLAG);
  ASSERT_EQ(p.props.headers.num_entries, 2);
  EXPECT_EQ(str(p.props.headers.entries[0].value.value.bytes), "delete");
  EXPECT_EQ(str(p.props.headers.entries[1].key), "pgtrickle-stream-table");
  EXPECT_EQ(str(p.props.message_id), "t:2:0");
}

// A table's owner names it; its name is pgtrickle-stream-table and the first part of the message-id:
// whatever it holds, the properties and headers the relay builds carry no control character
// (consumers carry them into headers of their own), the same on every try.
TEST(RabbitmqEncode, ANameWithLineBreaksIsHeaderSafeInTheMessageIdAndHeaders) {
  Message m;
  m.dedup_key = "orders\r\nAuthorization: x%\0:7:0"s;
  m.source = "orders\r\nAuthorization: x"s;
  m.key = "k\n1";
  Publish p;
  encode(m, p);
  EXPECT_EQ(str(p.props.message_id), "orders%0D%0AAuthorization: x%25%00:7:0");
  ASSERT_EQ(p.props.headers.num_entries, 3);
  EXPECT_EQ(str(p.props.headers.entries[1].key), "pgtrickle-stream-table");
  EXPECT_EQ(str(p.props.headers.entries[1].value.value.bytes), "orders%0D%0AAuthorization: x");
  EXPECT_EQ(str(p.props.headers.entries[2].key), "pgtrickle-key");
  EXPECT_EQ(str(p.props.headers.entries[2].value.value.bytes), "k%0A1");
  Message plain;
  plain.dedup_key = "orders:7:0";
  plain.source = "orders";
  encode(m, p);
  EXPECT_EQ(str(p.props.message_id), "orders%0D%0AAuthorization: x%25%00:7:0");
  encode(plain, p);
  EXPECT_EQ(p.props.message_id.bytes, plain.dedup_key.data());
  EXPECT_EQ(str(p.props.headers.entries[1].value.value.bytes), "orders");
}

TEST(RabbitmqUrl, UserPasswordHostPortVhost) {
  auto u = parse_url("amqp://relay:p%40ss@mq.internal:5673/orders%2Fprod");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->user, "relay");
  EXPECT_EQ(u->password, "p@ss");
  EXPECT_EQ(u->host, "mq.internal");
  EXPECT_EQ(u->port, 5673);
  EXPECT_EQ(u->vhost, "orders/prod");

  for (const char* url : {"amqp://guest:guest@127.0.0.1:55482/", "amqp://127.0.0.1:55482", "amqp://h/%2F"}) {
    auto d = parse_url(url);
    ASSERT_TRUE(d) << url;
    EXPECT_EQ(d->vhost, "/") << url;
    EXPECT_EQ(d->user, "guest") << url;
  }
  EXPECT_EQ(parse_url("amqp://h")->port, 5672);
  EXPECT_FALSE(parse_url("amqp://h")->tls);
}

TEST(RabbitmqUrl, AmqpsMeansTlsOnPort5671) {
  auto u = parse_url("amqps://relay:pw@mq.internal/prod");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 5671);
  EXPECT_EQ(u->host, "mq.internal");
  EXPECT_EQ(u->vhost, "prod");
  EXPECT_EQ(parse_url("amqps://h:5999")->port, 5999);
}

TEST(RabbitmqUrl, BadUrlsNameTheKeyAndNeverThePassword) {
  for (const char* url : {"http://h", "amqps:/h", "amqp://", "amqp://u:hunter2@h:99999/", "amqp://u:hunter2@h:x/",
                          "amqp://u:hunter2%G1@h/"}) {
    auto u = parse_url(url);
    ASSERT_FALSE(u) << url;
    EXPECT_EQ(u.error().kind, ErrorKind::fatal);
    EXPECT_NE(u.error().message.find("sink.url"), std::string::npos) << u.error().message;
    EXPECT_EQ(u.error().message.find("hunter2"), std::string::npos) << u.error().message;
  }
}

TEST(RabbitmqErrors, BrokerCloseCodes) {
  EXPECT_EQ(classify_close(AMQP_CONTENT_TOO_LARGE, ""), ErrorKind::permanent);
  EXPECT_EQ(classify_close(AMQP_NO_ROUTE, "NO_ROUTE"), ErrorKind::permanent);
  EXPECT_EQ(classify_close(AMQP_NO_CONSUMERS, ""), ErrorKind::permanent);
  EXPECT_EQ(classify_close(AMQP_PRECONDITION_FAILED,
                           "PRECONDITION_FAILED - message size 200000 is larger than configured max size 131072"),
            ErrorKind::permanent);
  EXPECT_EQ(classify_close(AMQP_PRECONDITION_FAILED, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x'"),
            ErrorKind::fatal);
  EXPECT_EQ(classify_close(AMQP_INVALID_PATH, ""), ErrorKind::fatal);
  EXPECT_EQ(classify_close(AMQP_ACCESS_REFUSED, "ACCESS_REFUSED - Login was refused"), ErrorKind::fatal);
  EXPECT_EQ(classify_close(AMQP_NOT_FOUND, "NOT_FOUND - no exchange 'x' in vhost '/'"), ErrorKind::fatal);
  EXPECT_EQ(classify_close(AMQP_SYNTAX_ERROR, ""), ErrorKind::fatal);
  EXPECT_EQ(classify_close(AMQP_COMMAND_INVALID, ""), ErrorKind::fatal);
  EXPECT_EQ(classify_close(AMQP_NOT_ALLOWED, "NOT_ALLOWED - access to vhost 'x' refused"), ErrorKind::fatal);
  EXPECT_EQ(classify_close(AMQP_NOT_IMPLEMENTED, ""), ErrorKind::fatal);
  EXPECT_EQ(classify_close(AMQP_CONNECTION_FORCED, "CONNECTION_FORCED - broker forced connection closure"), ErrorKind::retriable);
  EXPECT_EQ(classify_close(AMQP_RESOURCE_LOCKED, ""), ErrorKind::retriable);
  EXPECT_EQ(classify_close(AMQP_FRAME_ERROR, ""), ErrorKind::retriable);
  EXPECT_EQ(classify_close(AMQP_CHANNEL_ERROR, ""), ErrorKind::retriable);
  EXPECT_EQ(classify_close(AMQP_UNEXPECTED_FRAME, ""), ErrorKind::retriable);
  EXPECT_EQ(classify_close(AMQP_RESOURCE_ERROR, ""), ErrorKind::retriable);
  EXPECT_EQ(classify_close(AMQP_INTERNAL_ERROR, ""), ErrorKind::retriable);
}

TEST(RabbitmqErrors, LibraryStatuses) {
  EXPECT_EQ(classify_status(AMQP_STATUS_TABLE_TOO_BIG), ErrorKind::permanent);
  EXPECT_EQ(classify_status(AMQP_STATUS_BAD_URL), ErrorKind::fatal);
  EXPECT_EQ(classify_status(AMQP_STATUS_INCOMPATIBLE_AMQP_VERSION), ErrorKind::fatal);
  EXPECT_EQ(classify_status(AMQP_STATUS_BROKER_UNSUPPORTED_SASL_METHOD), ErrorKind::fatal);
  EXPECT_EQ(classify_status(AMQP_STATUS_UNSUPPORTED), ErrorKind::fatal);
  for (int s : {AMQP_STATUS_CONNECTION_CLOSED, AMQP_STATUS_SOCKET_ERROR, AMQP_STATUS_TCP_ERROR, AMQP_STATUS_TIMEOUT,
                AMQP_STATUS_HEARTBEAT_TIMEOUT, AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED, AMQP_STATUS_SOCKET_CLOSED})
    EXPECT_EQ(classify_status(s), ErrorKind::retriable) << amqp_error_string2(s);
}

TEST(RabbitmqErrors, TheRefusedSizeNamesTheCulprit) {
  EXPECT_EQ(refused_size("PRECONDITION_FAILED - message size 200000 is larger than configured max size 131072"), 200000);
  EXPECT_EQ(refused_size("PRECONDITION_FAILED - inequivalent arg"), -1);
}

}  // namespace
#endif
