// Protocol 2's streamed transactions held until they end, and the spill file they go to: fed bytes
// laid out as PostgreSQL's "Logical Replication Message Formats" page describes them.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "backends/postgres/pgoutput.h"
#include "backends/postgres/streamed_transactions.h"
#include "backends/postgres/wal_spill.h"
#include "util/crc32c.h"
#include "pgoutput_bytes.h"

namespace {

using namespace relay::postgres;
namespace po = relay::postgres::pgoutput;

using relay::test::Bytes;

std::string start(uint32_t xid, bool first) { return Bytes().c('S').u32(xid).c(first ? 1 : 0).s; }
std::string stop() { return "E"; }
std::string commit(uint32_t xid, po::Lsn lsn, po::Lsn end) { return Bytes().c('c').u32(xid).c(0).u64(lsn).u64(end).u64(555).s; }
std::string abort_of(uint32_t xid, uint32_t subxid) { return Bytes().c('A').u32(xid).u32(subxid).s; }
// An insert of one text column into relation 16384, inside a block (with its (sub)transaction's id) or not.
std::string insert(std::string_view value, std::optional<uint32_t> xid = std::nullopt) {
  Bytes b;
  b.c('I');
  if (xid) b.u32(*xid);
  return b.u32(16384).c('N').u16(1).text(value).s;
}

struct Dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("pgtrickle-relay-spill-test-" + std::to_string(::getpid()));
  ~Dir() { std::filesystem::remove_all(path); }
  std::size_t files() const {
    std::size_t n = 0;
    if (std::filesystem::exists(path))
      for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(path)) ++n;
    return n;
  }
};

// Feeds messages; returns what passed on (false from take) and what a commit handed on, in order, as
// "lsn:bytes-of-protocol-1" strings for comparison.
struct Feed {
  StreamedTransactions held;
  std::vector<std::string> out;
  explicit Feed(StreamedTransactions::Options o) : held(std::move(o)) {}
  void operator()(po::Lsn lsn, const std::string& m) {
    auto taken = held.take(lsn, m);
    ASSERT_TRUE(taken) << taken.error().message;
    if (!*taken) out.push_back(std::to_string(lsn) + ":" + m);
    while (held.replaying()) {
      auto r = held.next_replayed();
      ASSERT_TRUE(r) << r.error().message;
      ASSERT_TRUE(*r);
      out.push_back(std::to_string((*r)->lsn) + ":" + std::string((*r)->message));
    }
  }
};

std::string at(po::Lsn lsn, const std::string& m) { return std::to_string(lsn) + ":" + m; }
std::string begin_v1(po::Lsn commit_lsn, uint32_t xid) { return po::encode_begin({.final_lsn = commit_lsn, .commit_time = 555, .xid = xid}); }
std::string commit_v1(po::Lsn commit_lsn, po::Lsn end) {
  return po::encode_commit({.flags = 0, .commit_lsn = commit_lsn, .end_lsn = end, .commit_time = 555});
}

TEST(StreamedTransactions, ACommittedStreamComesWholeAtItsCommitAsProtocolOneAndWholeTransactionsPassInOrder) {
  Dir dir;
  Feed feed({.memory_limit = 1 << 20, .spill_dir = dir.path});
  feed(100, start(7, true));
  feed(100, insert("a", 7));
  feed(110, insert("b", 7));
  feed(110, stop());
  // A small transaction that commits meanwhile passes on at once, as it came.
  feed(120, begin_v1(130, 8));
  feed(125, insert("x"));
  feed(140, commit_v1(130, 140));
  feed(150, start(7, false));
  feed(150, insert("c", 7));
  feed(150, stop());
  EXPECT_EQ(feed.out.size(), 3u);  // nothing of transaction 7 yet
  feed(170, commit(7, 160, 170));
  const std::vector<std::string> expected{at(120, begin_v1(130, 8)), at(125, insert("x")), at(140, commit_v1(130, 140)),
                                          at(100, begin_v1(160, 7)), at(100, insert("a")), at(110, insert("b")),
                                          at(150, insert("c")), at(170, commit_v1(160, 170))};
  EXPECT_EQ(feed.out, expected);
  EXPECT_EQ(feed.held.held().transactions, 0u);
  EXPECT_EQ(feed.held.held().memory_bytes, 0u);
}

TEST(StreamedTransactions, AnAbortedTransactionAndAnAbortedSubtransactionHandOnNothingOfWhatTheyAborted) {
  Dir dir;
  Feed feed({.memory_limit = 1 << 20, .spill_dir = dir.path});
  feed(100, start(7, true));
  feed(100, insert("kept", 7));
  feed(101, insert("in savepoint", 9));  // subtransaction 9
  feed(102, stop());
  feed(103, start(8, true));
  feed(103, insert("all of it rolled back", 8));
  feed(103, stop());
  feed(104, abort_of(8, 8));
  feed(105, abort_of(7, 9));
  feed(106, start(7, false));
  feed(106, insert("after the savepoint", 10));
  feed(106, stop());
  feed(200, commit(7, 190, 200));
  const std::vector<std::string> expected{at(100, begin_v1(190, 7)), at(100, insert("kept")), at(106, insert("after the savepoint")),
                                          at(200, commit_v1(190, 200))};
  EXPECT_EQ(feed.out, expected);
}

TEST(StreamedTransactions, PastItsMemoryBoundTheBiggestTransactionSpillsAndComesBackInOrderAndTheFileGoesWithIt) {
  Dir dir;
  Feed feed({.memory_limit = 4096, .spill_dir = dir.path});
  std::vector<std::string> expected{at(1, begin_v1(900000, 7))};
  std::vector<std::string> small_expected;
  feed(1, start(7, true));
  for (int i = 0; i < 500; ++i) {
    std::string value(40, static_cast<char>('a' + i % 26));
    value += std::to_string(i);
    // Subtransaction 9 rolls back the rows it wrote, some of them spilled by then.
    const uint32_t xid = i % 10 == 3 ? 9 : 7;
    feed(static_cast<po::Lsn>(10 + i), insert(value, xid));
    if (xid == 7) expected.push_back(at(static_cast<po::Lsn>(10 + i), insert(value)));
    if (i == 250) {
      feed(300, stop());
      // Another transaction streams meanwhile, and stays small.
      feed(301, start(8, true));
      feed(301, insert("small", 8));
      feed(301, stop());
      feed(302, start(7, false));
    }
  }
  feed(600, stop());
  const auto spilled = feed.held.held();
  EXPECT_EQ(spilled.transactions, 2u);
  EXPECT_GT(spilled.spilled_bytes, 0u);
  EXPECT_LE(spilled.memory_bytes, 4096u);
  EXPECT_TRUE(spilled.oldest);
  EXPECT_EQ(dir.files(), 0u);  // the spill file has no name: nothing left behind, whatever happens
  feed(601, abort_of(7, 9));
  feed(900010, commit(7, 900000, 900010));
  expected.push_back(at(900010, commit_v1(900000, 900010)));
  EXPECT_EQ(feed.out, expected);
  EXPECT_EQ(feed.held.held().transactions, 1u);  // transaction 8
  EXPECT_EQ(feed.held.held().spilled_bytes, 0u);
}

TEST(StreamedTransactions, AStreamOutOfOrderIsAnErrorNotAGuess) {
  Dir dir;
  StreamedTransactions held({.memory_limit = 1 << 20, .spill_dir = dir.path});
  EXPECT_FALSE(held.take(1, start(7, false)));  // a later block without the first
  EXPECT_FALSE(held.take(1, commit(7, 2, 3)));  // a commit of nothing held
  ASSERT_TRUE(held.take(1, start(7, true)));
  EXPECT_FALSE(held.take(2, start(8, true)));  // a block inside a block
  EXPECT_FALSE(held.take(2, commit(7, 2, 3)));  // a commit inside a block
  auto bad = held.take(2, Bytes().c('B').u64(1).u64(1).u32(7).s);  // no Begin inside a block
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("inside a streamed transaction's block"), std::string::npos);
  EXPECT_FALSE(held.take(2, Bytes().c('I').u16(1).s));  // too short for its transaction id
  ASSERT_TRUE(held.take(3, stop()));
  EXPECT_TRUE(*held.take(4, abort_of(99, 99)));  // an abort of nothing held: nothing to drop
  held.clear();
  EXPECT_EQ(held.held().transactions, 0u);
}

TEST(SpillFile, RecordsBiggerThanItsBufferReadBackAsWritten) {
  Dir dir;
  auto f = SpillFile::create(dir.path);
  ASSERT_TRUE(f) << f.error().message;
  std::string big(3 << 20, 'z');  // bigger than the buffer
  ASSERT_TRUE(f->append(1, 7, "one"));
  ASSERT_TRUE(f->append(2, 9, big));
  ASSERT_TRUE(f->append(3, 7, ""));
  ASSERT_TRUE(f->rewind());
  SpillFile::Record r;
  ASSERT_TRUE(*f->read(r));
  EXPECT_EQ(r.lsn, 1u);
  EXPECT_EQ(r.xid, 7u);
  EXPECT_EQ(r.bytes, "one");
  ASSERT_TRUE(*f->read(r));
  EXPECT_EQ(r.bytes.size(), big.size());
  EXPECT_EQ(r.xid, 9u);
  ASSERT_TRUE(*f->read(r));
  EXPECT_EQ(r.lsn, 3u);
  EXPECT_TRUE(r.bytes.empty());
  EXPECT_FALSE(*f->read(r));
}

TEST(SpillFile, Crc32cIsCastagnolis) {
  // RFC 3720's check values.
  EXPECT_EQ(relay::util::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(relay::util::crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(relay::util::crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(relay::util::crc32c("56789", relay::util::crc32c("1234")), 0xE3069283u);
}

TEST(SpillFile, ADirectoryThatCannotBeMadeIsNamedInTheError) {
  auto f = SpillFile::create("/proc/no-such-place/spill");
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("/proc/no-such-place/spill"), std::string::npos) << f.error().message;
}

}  // namespace
