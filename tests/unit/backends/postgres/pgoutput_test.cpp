// pgoutput (protocol version 1) and the replication framing: decoded from bytes laid out as
// PostgreSQL's "Logical Replication Message Formats" page describes them.
#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "backends/postgres/pgoutput.h"
#include "pgoutput_bytes.h"

namespace {

using namespace relay::postgres::pgoutput;

using relay::test::Bytes;

// Decoded values point into the message, as the WAL reader's do into its buffer: each message is
// kept for the whole run.
template <class T>
T decoded(std::string bytes) {
  static std::deque<std::string> kept;
  auto m = decode(kept.emplace_back(std::move(bytes)));
  EXPECT_TRUE(m) << (m ? "" : m.error().message);
  if (!m) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*m));
  return std::holds_alternative<T>(*m) ? std::get<T>(*m) : T{};
}

TEST(Pgoutput, LsnsReadAndPrintAsPostgresWritesThem) {
  EXPECT_EQ(format_lsn(0x16B374D848ull), "16/B374D848");
  EXPECT_EQ(parse_lsn("16/B374D848"), 0x16B374D848ull);
  EXPECT_EQ(parse_lsn("0/0"), 0u);
  EXPECT_FALSE(parse_lsn("16B374D848"));
  EXPECT_FALSE(parse_lsn("16/"));
  EXPECT_FALSE(parse_lsn("x/1"));
  EXPECT_FALSE(parse_lsn("1/123456789"));
}

TEST(Pgoutput, BeginRelationChangesAndCommitDecode) {
  auto b = decoded<Begin>(Bytes().c('B').u64(0x1000).u64(777).u32(42).s);
  EXPECT_EQ(b.final_lsn, 0x1000u);
  EXPECT_EQ(b.commit_time, 777);
  EXPECT_EQ(b.xid, 42u);

  auto rel = decoded<Relation>(Bytes().c('R').u32(16384).str("public").str("orders").c('f').u16(2)
                                   .c(1).str("id").u32(23).u32(0xFFFFFFFF)
                                   .c(0).str("note").u32(25).u32(0xFFFFFFFF).s);
  EXPECT_EQ(rel.oid, 16384u);
  EXPECT_EQ(rel.schema, "public");
  EXPECT_EQ(rel.name, "orders");
  EXPECT_EQ(rel.replica_identity, 'f');
  ASSERT_EQ(rel.columns.size(), 2u);
  EXPECT_TRUE(rel.columns[0].key);
  EXPECT_EQ(rel.columns[0].type_oid, 23u);
  EXPECT_EQ(rel.columns[0].type_modifier, -1);
  EXPECT_FALSE(rel.columns[1].key);
  EXPECT_EQ(rel.columns[1].name, "note");

  auto ins = decoded<Insert>(Bytes().c('I').u32(16384).c('N').u16(2).text("7").c('n').s);
  EXPECT_EQ(ins.relation, 16384u);
  ASSERT_EQ(ins.new_tuple.size(), 2u);
  EXPECT_EQ(ins.new_tuple[0].kind, Value::text);
  EXPECT_EQ(ins.new_tuple[0].data, "7");
  EXPECT_EQ(ins.new_tuple[1].kind, Value::null);

  auto upd = decoded<Update>(Bytes().c('U').u32(16384).c('O').u16(2).text("7").text("old")
                                 .c('N').u16(2).text("7").c('u').s);
  EXPECT_EQ(upd.old_kind, 'O');
  EXPECT_EQ(upd.old_tuple[1].data, "old");
  EXPECT_EQ(upd.new_tuple[1].kind, Value::unchanged_toast) << "an unchanged TOASTed value is marked, not null";

  auto plain = decoded<Update>(Bytes().c('U').u32(16384).c('N').u16(1).text("8").s);
  EXPECT_EQ(plain.old_kind, 0) << "no old tuple when the key did not change";

  auto del = decoded<Delete>(Bytes().c('D').u32(16384).c('K').u16(2).text("7").c('n').s);
  EXPECT_EQ(del.old_kind, 'K');
  EXPECT_EQ(del.old_tuple[0].data, "7");

  auto tr = decoded<Truncate>(Bytes().c('T').u32(2).c(3).u32(16384).u32(16390).s);
  EXPECT_TRUE(tr.cascade);
  EXPECT_TRUE(tr.restart_identity);
  EXPECT_EQ(tr.relations, (std::vector<uint32_t>{16384, 16390}));

  auto c = decoded<Commit>(Bytes().c('C').c(0).u64(0x1000).u64(0x1038).u64(778).s);
  EXPECT_EQ(c.commit_lsn, 0x1000u);
  EXPECT_EQ(c.end_lsn, 0x1038u);
  EXPECT_EQ(c.commit_time, 778);

  auto m = decoded<LogicalMessage>(Bytes().c('M').c(1).u64(0x2000).str("relay").u32(3).s + "abc");
  EXPECT_TRUE(m.transactional);
  EXPECT_EQ(m.prefix, "relay");
  EXPECT_EQ(m.content, "abc");
}

TEST(Pgoutput, MalformedMessagesAreErrorsThatSayWhatIsWrong) {
  auto error = [](const std::string& bytes) {
    auto m = decode(bytes);
    return m ? std::string() : m.error().message;
  };
  EXPECT_NE(error(Bytes().c('B').u64(1).s).find("ends early"), std::string::npos);
  EXPECT_NE(error(Bytes().c('I').u32(1).c('N').u16(3).text("1").s).find("the tuple ends at column 2 of 3"), std::string::npos);
  EXPECT_NE(error(Bytes().c('I').u32(1).c('X').u16(0).s).find("expected 'N'"), std::string::npos);
  EXPECT_NE(error(Bytes().c('I').u32(1).c('N').u16(1).c('z').s).find("unknown kind"), std::string::npos);
  EXPECT_NE(error(Bytes().c('I').u32(1).c('N').u16(1).c('t').u32(1000).s + "ab").find("the tuple ends"), std::string::npos);
  EXPECT_NE(error(Bytes().c('T').u32(100000).c(0).s).find("relation count"), std::string::npos);
  EXPECT_NE(error(Bytes().c('B').u64(1).u64(2).u32(3).c('x').s).find("1 bytes follow"), std::string::npos);
  EXPECT_NE(error("S").find("protocol version 1"), std::string::npos) << "a streamed-transaction message is named as such";
  EXPECT_NE(error("").find("empty"), std::string::npos);
}

TEST(Pgoutput, ReplicationFramingAndTheStatusUpdate) {
  // The decoded payload points into the message: the message outlives it.
  const std::string message = Bytes().c('w').u64(0x10).u64(0x20).u64(5).s + "Bpayload";
  auto w = decode_copy_data(message);
  ASSERT_TRUE(w);
  auto& data = std::get<XLogData>(*w);
  EXPECT_EQ(data.start, 0x10u);
  EXPECT_EQ(data.wal_end, 0x20u);
  EXPECT_EQ(data.payload, "Bpayload");

  auto k = decode_copy_data(Bytes().c('k').u64(0x30).u64(6).c(1).s);
  ASSERT_TRUE(k);
  EXPECT_EQ(std::get<Keepalive>(*k).wal_end, 0x30u);
  EXPECT_TRUE(std::get<Keepalive>(*k).reply_requested);
  EXPECT_FALSE(decode_copy_data(Bytes().c('k').u64(0x30).s));
  EXPECT_FALSE(decode_copy_data("q"));

  EXPECT_EQ(standby_status_update(1, 2, 3, 4, true), Bytes().c('r').u64(1).u64(2).u64(3).u64(4).c(1).s);
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::microseconds>(from_pg_time(to_pg_time(now)) - now).count(), 0);
  EXPECT_EQ(to_pg_time(std::chrono::system_clock::time_point(std::chrono::seconds(946684800))), 0);
}

}  // namespace
