// The Redis Streams wire form (the XADD command byte for byte), the url and the error table.
#if RELAY_WITH_REDIS
#include <gtest/gtest.h>

#include "backends/redis/redis_encode.h"

using namespace relay;
using namespace relay::redis;

namespace {

Message row_message() {
  Message m;
  m.dedup_key = "items:7:0";
  m.routes[0] = "pgtrickle:items";
  m.op = Op::insert;
  m.source = "items";
  m.body = R"({"id":7})";
  return m;
}

TEST(RedisEncode, XaddCarriesTheDedupKeyRoutingFieldsAndPayload) {
  std::string out;
  append_xadd(out, row_message(), 0);
  EXPECT_EQ(out,
            "*11\r\n$4\r\nXADD\r\n$15\r\npgtrickle:items\r\n$1\r\n*\r\n"
            "$9\r\ndedup_key\r\n$9\r\nitems:7:0\r\n"
            "$12\r\nstream_table\r\n$5\r\nitems\r\n"
            "$2\r\nop\r\n$6\r\ninsert\r\n"
            "$7\r\npayload\r\n$8\r\n{\"id\":7}\r\n");
}

TEST(RedisEncode, MaxlenKeyAndHeadersAreWritten) {
  Message m = row_message();
  m.op = Op::event;
  m.key = "k1";
  m.headers = {{"traceparent", "00-ab"}, {"op", "x\r\ny"}};
  std::string out = "prefix|";
  append_xadd(out, m, 1000);
  EXPECT_EQ(out,
            "prefix|*20\r\n$4\r\nXADD\r\n$15\r\npgtrickle:items\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$4\r\n1000\r\n$1\r\n*\r\n"
            "$9\r\ndedup_key\r\n$9\r\nitems:7:0\r\n"
            "$12\r\nstream_table\r\n$5\r\nitems\r\n"
            "$2\r\nop\r\n$5\r\nevent\r\n"
            "$3\r\nkey\r\n$2\r\nk1\r\n"
            "$7\r\npayload\r\n$8\r\n{\"id\":7}\r\n"
            "$18\r\nheader.traceparent\r\n$5\r\n00-ab\r\n"
            "$9\r\nheader.op\r\n$4\r\nx\r\ny\r\n");
}

TEST(RedisEncode, ABatchIsCommandsBackToBack) {
  std::string one, two;
  append_xadd(one, row_message(), 0);
  append_xadd(two, row_message(), 0);
  append_xadd(two, row_message(), 0);
  EXPECT_EQ(two, one + one);
}

TEST(RedisUrl, HostPortAndDatabase) {
  auto u = parse_url("redis://127.0.0.1:55481/3");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 55481);
  EXPECT_EQ(u->db, 3);
  EXPECT_FALSE(u->has_password);

  auto d = parse_url("redis://cache");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "cache");
  EXPECT_EQ(d->port, 6379);
  EXPECT_EQ(d->db, 0);
}

TEST(RedisUrl, UserAndPasswordArePercentDecoded) {
  auto u = parse_url("redis://relay:p%40ss%3Aw@localhost:6380/0");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->user, "relay");
  EXPECT_EQ(u->password, "p@ss:w");
  EXPECT_TRUE(u->has_password);
  EXPECT_EQ(u->port, 6380);

  auto p = parse_url("redis://:secret@localhost");  // default user
  ASSERT_TRUE(p);
  EXPECT_EQ(p->user, "");
  EXPECT_EQ(p->password, "secret");
  EXPECT_TRUE(p->has_password);

  auto v6 = parse_url("redis://[::1]:7000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);
}

TEST(RedisUrl, BadUrlsNameTheKeyAndNeverThePassword) {
  for (const char* url : {"http://localhost", "rediss://localhost", "redis://localhost:notaport",
                          "redis://localhost:70000", "redis://localhost/db1", "redis://:hunter2@", "redis://u:hunter2%zz@h"}) {
    auto u = parse_url(url);
    ASSERT_FALSE(u) << url;
    EXPECT_EQ(u.error().kind, ErrorKind::fatal);
    EXPECT_NE(u.error().message.find("sink.url"), std::string::npos) << u.error().message;
    EXPECT_EQ(u.error().message.find("hunter2"), std::string::npos) << u.error().message;
  }
  EXPECT_NE(parse_url("rediss://x").error().message.find("TLS"), std::string::npos);
}

TEST(RedisErrors, EachRowOfTheTable) {
  EXPECT_EQ(classify_reply("WRONGTYPE Operation against a key holding the wrong kind of value"), ErrorKind::permanent);
  EXPECT_EQ(classify_reply("OOM command not allowed when used memory > 'maxmemory'."), ErrorKind::retriable);
  EXPECT_EQ(classify_reply("LOADING Redis is loading the dataset in memory"), ErrorKind::retriable);
  EXPECT_EQ(classify_reply("BUSY Redis is busy running a script."), ErrorKind::retriable);
  EXPECT_EQ(classify_reply("MASTERDOWN Link with MASTER is down"), ErrorKind::retriable);
  EXPECT_EQ(classify_reply("READONLY You can't write against a read only replica."), ErrorKind::retriable);
  EXPECT_EQ(classify_reply("TRYAGAIN Multiple keys request during rehashing of slot"), ErrorKind::retriable);
  EXPECT_EQ(classify_reply("CLUSTERDOWN The cluster is down"), ErrorKind::retriable);
  EXPECT_EQ(classify_reply("NOREPLICAS Not enough good replicas to write."), ErrorKind::retriable);
  EXPECT_EQ(classify_reply("MISCONF Redis is configured to save RDB snapshots, but it's unable to persist"), ErrorKind::retriable);
  EXPECT_EQ(classify_reply("NOPERM this user has no permissions to access one of the keys used as arguments"), ErrorKind::fatal);
  EXPECT_EQ(classify_reply("NOAUTH Authentication required."), ErrorKind::fatal);
  EXPECT_EQ(classify_reply("WRONGPASS invalid username-password pair or user is disabled."), ErrorKind::fatal);
  EXPECT_EQ(classify_reply("MOVED 3999 127.0.0.1:6381"), ErrorKind::fatal);
  EXPECT_EQ(classify_reply("ASK 3999 127.0.0.1:6381"), ErrorKind::fatal);
  EXPECT_EQ(classify_reply("CROSSSLOT Keys in request don't hash to the same slot"), ErrorKind::fatal);
  EXPECT_EQ(classify_reply("ERR unknown command 'XADD'"), ErrorKind::fatal);
  EXPECT_EQ(classify_reply("ERR max number of clients reached"), ErrorKind::retriable);
  EXPECT_EQ(classify_reply("ERR Protocol error: invalid bulk length"), ErrorKind::permanent);
  EXPECT_EQ(classify_reply("SOMETHINGNEW we have not seen"), ErrorKind::permanent);
  // A prefix matches whole words only.
  EXPECT_EQ(classify_reply("ASKING"), ErrorKind::permanent);
}

}  // namespace
#endif
