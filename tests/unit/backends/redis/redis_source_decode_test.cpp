// How a Redis stream entry becomes a relay Message: the dedup identity, payload, headers, time;
// and what an error reply to the source's commands means.
#if RELAY_WITH_REDIS
#include <gtest/gtest.h>

#include <vector>

#include "backends/redis/redis_decode.h"

using namespace relay;
using namespace relay::redis;

TEST(RedisSourceDecode, EventIdIsTheIdentityAndPayloadTheData) {
  std::vector<Field> f = {{"event_id", "evt-1"}, {"dedup_key", "orders:5:0"}, {"payload", R"({"a":1})"},
                          {"header.traceparent", "00-ab"}, {"op", "insert"}};
  Message m = to_message("orders:in", "1700000000123-4", f);
  EXPECT_EQ(m.dedup_key, "evt-1");
  EXPECT_EQ(m.data, R"({"a":1})");
  EXPECT_EQ(m.subject, "orders:in");
  EXPECT_EQ(m.source, "redis:orders:in");
  EXPECT_EQ(m.op, Op::event);
  EXPECT_TRUE(m.key.empty());
  EXPECT_DOUBLE_EQ(m.committed_at, 1700000000.123);
  ASSERT_EQ(m.headers.size(), 1u);
  EXPECT_EQ(m.headers[0], (Header{"traceparent", "00-ab"}));
}

TEST(RedisSourceDecode, TheForwardSinksDedupKeyIsUsedWithoutAnEventId) {
  // What the relay's own Redis sink writes: dedup_key, stream_table, op, key, payload, header.*.
  std::vector<Field> f = {{"dedup_key", "orders:5:0"}, {"stream_table", "orders"}, {"op", "insert"}, {"payload", "{}"}};
  EXPECT_EQ(to_message("s", "1-0", f).dedup_key, "orders:5:0");
}

TEST(RedisSourceDecode, WithoutIdFieldsTheEntryIdIsTheIdentity) {
  std::vector<Field> f = {{"payload", "{}"}};
  EXPECT_EQ(to_message("s", "1700000000000-0", f).dedup_key, "s:1700000000000-0");
  std::vector<Field> empty_id = {{"event_id", ""}, {"payload", "{}"}};
  EXPECT_EQ(to_message("s", "5-1", empty_id).dedup_key, "s:5-1") << "an empty id is no identity";
}

TEST(RedisSourceDecode, WithoutPayloadAllFieldsBecomeAJsonObjectInEntryOrder) {
  std::vector<Field> f = {{"event_id", "e"}, {"order", "42"}, {"note", "say \"hi\"\n"}};
  EXPECT_EQ(to_message("s", "1-0", f).data, R"({"event_id":"e","order":"42","note":"say \"hi\"\n"})");
  EXPECT_EQ(to_message("s", "1-0", std::vector<Field>{}).data, "{}");
}

TEST(RedisSourceDecode, ThePayloadIsKeptByteForByte) {
  std::string body("\x00\xff not json", 11);
  std::vector<Field> f = {{"payload", body}};
  EXPECT_EQ(to_message("s", "1-0", f).data, body);
}

TEST(RedisSourceDecode, EntryTimeOfAnId) {
  EXPECT_DOUBLE_EQ(entry_time("1700000000123-0"), 1700000000.123);
  EXPECT_DOUBLE_EQ(entry_time("1700000000123"), 1700000000.123);
  EXPECT_EQ(entry_time("abc"), 0);
  EXPECT_EQ(entry_time(""), 0);
}

TEST(RedisSourceDecode, ErrorTable) {
  EXPECT_EQ(classify_source_reply("WRONGTYPE Operation against a key holding the wrong kind of value"), ErrorKind::fatal);
  EXPECT_EQ(classify_source_reply("NOPERM this user has no permissions to run the 'xreadgroup' command"), ErrorKind::fatal);
  EXPECT_EQ(classify_source_reply("NOAUTH Authentication required."), ErrorKind::fatal);
  EXPECT_EQ(classify_source_reply("ERR unknown command 'XAUTOCLAIM', with args beginning with: "), ErrorKind::fatal);
  EXPECT_EQ(classify_source_reply("MOVED 3999 127.0.0.1:6381"), ErrorKind::fatal);
  EXPECT_EQ(classify_source_reply("NOGROUP No such key 'k' or consumer group 'g' in XREADGROUP with GROUP option"), ErrorKind::retriable);
  EXPECT_EQ(classify_source_reply("LOADING Redis is loading the dataset in memory"), ErrorKind::retriable);
  EXPECT_EQ(classify_source_reply("BUSY Redis is busy running a script."), ErrorKind::retriable);
  EXPECT_EQ(classify_source_reply("ERR something unexpected"), ErrorKind::retriable);
}
#endif
