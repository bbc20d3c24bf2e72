// The WAL capture's transport against a real PostgreSQL with wal_level = logical: a pgoutput slot
// streamed over libpq's replication protocol, decoded, confirmed and resumed.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "backends/postgres/pgoutput.h"
#include "backends/postgres/wal_reader.h"
#include "backends/postgres/wal_rows.h"
#include "backends/postgres/wal_stream.h"
#include "fixture.h"
#include "util/json_scan.h"

namespace relay::test {
namespace {

namespace po = postgres::pgoutput;
using postgres::WalStream;

// A slot of its own for one test, dropped at the end (a leftover slot would hold WAL forever and
// keep the test database from being dropped).
struct Slot {
  TestDb& db;
  std::string name;
  Slot(TestDb& d, std::string n) : db(d), name(std::move(n)) {
    db.exec("SELECT pg_create_logical_replication_slot('" + name + "', 'pgoutput')");
  }
  // Waits until no connection reads the slot (a closed reader's walsender ends a moment later).
  void wait_until_idle() {
    wait_until([&] { return db.value("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + name + "' AND active") == "0"; },
               std::chrono::seconds(10));
  }
  ~Slot() {
    db.exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '" + name +
            "' AND active_pid IS NOT NULL");
    wait_until_idle();
    db.exec("SELECT pg_drop_replication_slot('" + name + "')");
  }
};

// One decoded transaction: its commit and its changes, as text ("I 1,a" "U 2,b old=2,a" "D K 1" "T").
struct Txn {
  po::Lsn commit_lsn = 0;
  po::Lsn end_lsn = 0;
  std::vector<std::string> changes;
};

std::string tuple_text(const po::Tuple& t) {
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i) out += ',';
    switch (t[i].kind) {
      case po::Value::null: out += "null"; break;
      case po::Value::unchanged_toast: out += "unchanged"; break;
      default: out += t[i].data; break;
    }
  }
  return out;
}

// Reads until `count` transactions committed (or 15 s passed).
std::vector<Txn> read_transactions(WalStream& stream, size_t count, std::map<uint32_t, po::Relation>& relations) {
  std::vector<Txn> out;
  Txn current;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    auto next = stream.next(std::chrono::milliseconds(500));
    EXPECT_TRUE(next) << (next ? "" : next.error().message);
    if (!next) break;
    if (!*next) continue;
    auto m = po::decode((*next)->message);
    EXPECT_TRUE(m) << (m ? "" : m.error().message);
    if (!m) break;
    if (auto* r = std::get_if<po::Relation>(&*m)) relations[r->oid] = *r;
    if (std::get_if<po::Begin>(&*m)) current = Txn{};
    if (auto* i = std::get_if<po::Insert>(&*m)) {
      EXPECT_TRUE(relations.count(i->relation)) << "the relation is described before its first change";
      current.changes.push_back("I " + tuple_text(i->new_tuple));
    }
    if (auto* u = std::get_if<po::Update>(&*m))
      current.changes.push_back("U " + tuple_text(u->new_tuple) + (u->old_kind ? std::string(" old=") + u->old_kind + " " + tuple_text(u->old_tuple) : ""));
    if (auto* d = std::get_if<po::Delete>(&*m)) current.changes.push_back(std::string("D ") + d->old_kind + " " + tuple_text(d->old_tuple));
    if (std::get_if<po::Truncate>(&*m)) current.changes.push_back("T");
    if (auto* c = std::get_if<po::Commit>(&*m)) {
      current.commit_lsn = c->commit_lsn;
      current.end_lsn = c->end_lsn;
      out.push_back(current);
    }
  }
  return out;
}

TEST(WalStream, ChangesArriveInCommitOrderWithTheirOldValuesAndResumeAfterTheConfirmedPosition) {
  TestDb db(false);
  ASSERT_EQ(db.value("SHOW wal_level"), "logical") << "the test PostgreSQL runs with wal_level = logical";
  db.exec("CREATE TABLE t (id int PRIMARY KEY, note text, big text)");
  db.exec("CREATE TABLE other (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION p FOR TABLE t");
  Slot slot(db, "wal_" + db.name());

  // Two transactions that commit in the other order than they began.
  auto late = pg::Connection::open(db.url(), "late writer");
  ASSERT_TRUE(late);
  ASSERT_TRUE(late->exec("BEGIN"));
  ASSERT_TRUE(late->exec("INSERT INTO t VALUES (1, 'began first', NULL)"));
  db.exec("INSERT INTO t VALUES (2, 'committed first', NULL)");
  ASSERT_TRUE(late->exec("COMMIT"));
  db.exec("INSERT INTO other VALUES (1)");  // not in the publication
  db.exec("UPDATE t SET note = 'changed' WHERE id = 2");
  db.exec("DELETE FROM t WHERE id = 1");
  db.exec("ALTER TABLE t REPLICA IDENTITY FULL");
  db.exec("UPDATE t SET note = 'full' WHERE id = 2");
  db.exec("TRUNCATE t");

  auto started = WalStream::start({.conninfo = db.url(), .slot = slot.name, .publications = {"p"}});
  ASSERT_TRUE(started) << started.error().message;
  std::optional<WalStream> stream(std::move(*started));
  std::map<uint32_t, po::Relation> relations;
  auto txns = read_transactions(*stream, 6, relations);
  ASSERT_EQ(txns.size(), 6u);
  EXPECT_EQ(txns[0].changes, std::vector<std::string>{"I 2,committed first,null"});
  EXPECT_EQ(txns[1].changes, std::vector<std::string>{"I 1,began first,null"}) << "commit order, not start order";
  EXPECT_EQ(txns[2].changes, std::vector<std::string>{"U 2,changed,null"}) << "the key did not change: no old tuple";
  EXPECT_EQ(txns[3].changes, std::vector<std::string>{"D K 1,null,null"}) << "default identity: the key only";
  EXPECT_EQ(txns[4].changes, std::vector<std::string>{"U 2,full,null old=O 2,changed,null"}) << "REPLICA IDENTITY FULL: the old row";
  EXPECT_EQ(txns[5].changes, std::vector<std::string>{"T"});
  for (size_t i = 1; i < txns.size(); ++i) EXPECT_GT(txns[i].commit_lsn, txns[i - 1].commit_lsn);
  ASSERT_EQ(relations.size(), 1u);
  const auto& rel = relations.begin()->second;
  EXPECT_EQ(rel.name, "t");
  EXPECT_EQ(rel.replica_identity, 'f');
  ASSERT_EQ(rel.columns.size(), 3u);
  EXPECT_TRUE(rel.columns[0].key);
  EXPECT_EQ(rel.columns[0].type_oid, 23u);  // int4

  // Confirm the first two transactions, reconnect from the slot's position: the third comes first.
  ASSERT_TRUE(stream->confirm(txns[1].end_lsn));
  wait_until([&] { return db.value("SELECT confirmed_flush_lsn >= '" + po::format_lsn(txns[1].end_lsn) +
                                   "'::pg_lsn FROM pg_replication_slots WHERE slot_name = '" + slot.name + "'") == "t"; },
             std::chrono::seconds(10));
  EXPECT_EQ(db.value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + slot.name + "'"),
            po::format_lsn(txns[1].end_lsn));
  stream.reset();  // closes the connection
  slot.wait_until_idle();
  auto again = WalStream::start({.conninfo = db.url(), .slot = slot.name, .publications = {"p"}});
  ASSERT_TRUE(again) << again.error().message;
  std::map<uint32_t, po::Relation> relations_again;
  auto replay = read_transactions(*again, 1, relations_again);
  ASSERT_EQ(replay.size(), 1u);
  EXPECT_EQ(replay[0].changes, txns[2].changes) << "nothing before the confirmed position comes again";
  EXPECT_EQ(replay[0].commit_lsn, txns[2].commit_lsn) << "the same change has the same position on replay";
}

TEST(WalStream, AnUnchangedToastedValueIsMarkedNotNull) {
  TestDb db(false);
  db.exec("CREATE TABLE t (id int PRIMARY KEY, note text, big text)");
  db.exec("ALTER TABLE t ALTER COLUMN big SET STORAGE EXTERNAL");  // stored out of line, uncompressed
  db.exec("CREATE PUBLICATION p FOR TABLE t");
  Slot slot(db, "toast_" + db.name());
  db.exec("INSERT INTO t VALUES (1, 'a', repeat('x', 10000))");
  db.exec("UPDATE t SET note = 'b' WHERE id = 1");
  auto stream = WalStream::start({.conninfo = db.url(), .slot = slot.name, .publications = {"p"}});
  ASSERT_TRUE(stream) << stream.error().message;
  std::map<uint32_t, po::Relation> relations;
  auto txns = read_transactions(*stream, 2, relations);
  ASSERT_EQ(txns.size(), 2u);
  ASSERT_EQ(txns[0].changes.size(), 1u);
  EXPECT_EQ(txns[0].changes[0].size(), std::string("I 1,a,").size() + 10000) << "the inserted value arrives whole";
  EXPECT_EQ(txns[1].changes, std::vector<std::string>{"U 1,b,unchanged"});
}

TEST(WalStream, StreamingAMissingSlotOrPublicationSaysWhatToDo) {
  TestDb db(false);
  auto missing = WalStream::start({.conninfo = db.url(), .slot = "no_such_slot", .publications = {"p"}});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no_such_slot"), std::string::npos) << missing.error().message;
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos) << missing.error().message;
}

}  // namespace
}  // namespace relay::test

namespace relay::test {
namespace {

// Decodes the stream until `count` row changes of relation `name` arrived; returns them with the
// relation and each change's old tuple (when the WAL carries one).
struct Change {
  po::Tuple now;
  std::optional<po::Tuple> old;
};
std::vector<Change> read_changes(WalStream& stream, size_t count, po::Relation& relation) {
  std::vector<Change> out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    auto next = stream.next(std::chrono::milliseconds(500));
    if (!next || !*next) continue;
    auto m = po::decode((*next)->message);
    if (!m) continue;
    if (auto* r = std::get_if<po::Relation>(&*m)) relation = *r;
    if (auto* i = std::get_if<po::Insert>(&*m)) out.push_back({i->new_tuple, std::nullopt});
    if (auto* u = std::get_if<po::Update>(&*m)) out.push_back({u->new_tuple, u->old_kind ? std::optional(u->old_tuple) : std::nullopt});
  }
  return out;
}

TEST(WalRows, ARowReadFromTheWalRendersExactlyAsToJsonbDoesForEveryColumnType) {
  TestDb db;
  db.exec("CREATE TYPE mood AS ENUM ('sad', 'happy')");
  db.exec("CREATE TYPE pair AS (a int, b text)");
  db.exec("CREATE DOMAIN positive AS int CHECK (VALUE > 0)");
  db.exec("CREATE TABLE \"Odd Table\" (id int PRIMARY KEY, i2 int2, i8 int8, n numeric(10,3), f4 float4, f8 float8, "
          "nan float8, big float8, tiny float8, ok bool, t text, v varchar(10), c char(3), u uuid, j json, jb jsonb, "
          "d date, ts timestamp, tz timestamptz, tm time, ttz timetz, iv interval, b bytea, ia int[], ta text[], "
          "m mood, p pair, pos positive, ip inet, \"Mixed Case\" text)");
  db.exec("SELECT pgtrickle.enable_outbox('\"Odd Table\"', capture => 'wal')");  // rendered as its owner
  db.exec("CREATE PUBLICATION p FOR TABLE \"Odd Table\"");
  Slot slot(db, "rows_" + db.name());
  db.exec("INSERT INTO \"Odd Table\" VALUES (1, -7, 9007199254740993, 12.5, 1.1, 0.1, 'NaN', 1e20, 1.5e-7, true, "
          "E'quote \" back \\\\ newline \\n tab \\t é ☃', 'short', 'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
          "'{\"b\": 1,  \"a\" : [1, 2.50], \"b\": 3}', '{\"z\": null, \"a\": {\"y\": 1e2}}', '2024-02-29', "
          "'2024-02-29 13:14:15.123456', '2024-02-29 13:14:15+05:30', '13:14:15', '13:14:15+02', '1 day 02:03:04', "
          "'\\xdeadbeef', '{1,2,NULL}', '{\"a b\",\"c,d\",NULL}', 'happy', ROW(1, 'x y'), 5, '10.0.0.1/8', 'M')");
  db.exec("INSERT INTO \"Odd Table\" (id) VALUES (2)");  // nulls everywhere

  auto stream = WalStream::start({.conninfo = db.url(), .slot = slot.name, .publications = {"p"}});
  ASSERT_TRUE(stream) << stream.error().message;
  po::Relation relation;
  auto changes = read_changes(*stream, 2, relation);
  ASSERT_EQ(changes.size(), 2u);
  std::string rows = "[";
  for (size_t i = 0; i < changes.size(); ++i) {
    if (i) rows += ',';
    postgres::append_row_values(relation, changes[i].now, nullptr, rows);
  }
  rows += "]";
  auto rendered = postgres::RowRenderer::render(db.conn(), relation, rows);
  ASSERT_TRUE(rendered) << rendered.error().message;
  ASSERT_EQ(rendered->size(), 2u);
  EXPECT_EQ((*rendered)[0], db.value("SELECT to_jsonb(x)::text FROM \"Odd Table\" AS x WHERE id = 1"));
  EXPECT_EQ((*rendered)[1], db.value("SELECT to_jsonb(x)::text FROM \"Odd Table\" AS x WHERE id = 2"));
}

// What the relay renders itself (PlainRows) is byte for byte what to_jsonb writes, once minified as
// every row is: the values where text and JSON differ (floats in exponent form, NaN, infinities,
// negative zero, zones without minutes, escapes), and keys in jsonb's order.
TEST(WalRows, RowsTheRelayRendersItselfAreWhatToJsonbWrites) {
  TestDb db;
  db.exec("SET TimeZone = 'UTC'");  // as the stream's and the rendering session's
  db.exec("CREATE TABLE plain (id int PRIMARY KEY, i2 int2, i8 int8, n numeric(12,3), nn numeric, f4 float4, f8 float8, "
          "\"a long column name\" text, ok bool, t text, v varchar(10), c char(4), nm name, ch \"char\", u uuid, jb jsonb, "
          "d date, ts timestamp, tz timestamptz, tm time, ttz timetz, iv interval, b bytea, ip inet, cd cidr, mac macaddr, "
          "money money, bits bit(4), vb varbit, x xml, tv tsvector, lsn pg_lsn, o oid, pt point, bx box, r int4range, "
          "tr tstzrange, \"Zz\" int, \"é\" text)");
  db.exec("CREATE PUBLICATION p FOR TABLE plain");
  Slot slot(db, "plain_" + db.name());
  const std::vector<std::string> rows = {
      "(1, -7, 9007199254740993, 12.5, 'NaN', 1.1, 1e100, 'long', true, E'quote \" back \\\\ nl \\n tab \\t \\x01 é ☃', 'short', 'ab', "
      "'nm', 'q', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"z\": null, \"a\": {\"y\": 1e2, \"x\": [1, 2.50]}}', '2024-02-29', "
      "'2024-02-29 13:14:15.123456', '2024-02-29 13:14:15+05:30', '13:14:15', '13:14:15+02', '1 day 02:03:04', "
      "'\\xdeadbeef', '10.0.0.1/8', '10.0.0.0/8', '08:00:2b:01:02:03', 12.34, B'1010', B'101', '<a>x</a>', 'a fat cat', "
      "'16/B374D848', 42, '(1,2)', '((0,0),(1,1))', '[1,5)', '[2024-01-01 00:00+00,2024-02-01 00:00+00)', 3, 'e')",
      "(2, 0, 0, -0.5, 'Infinity', '-Infinity', -0.0, '', false, '', '', '', '', '', NULL, '[]', 'infinity', '-infinity', "
      "'infinity', '24:00:00', '00:00:00-03:30', '-1 mons', '\\x', '::1', '::/0', '00:00:00:00:00:00', -1, B'0000', B'', "
      "'', '', '0/0', 0, '(0,0)', '((0,0),(0,0))', 'empty', 'empty', -1, NULL)",
      "(3, NULL, NULL, NULL, 'NaN', 'NaN', 1.5e-7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'null', '1999-12-31', "
      "'1999-12-31 23:59:59', '1999-12-31 23:59:59.5-08', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
      "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
      "(4, NULL, NULL, 1e-3, 123456789012345678901234567890.123456789, 3.4e38, -2.2250738585072014e-308, NULL, NULL, NULL, NULL, "
      "NULL, NULL, NULL, NULL, '\"s\"', NULL, NULL, '2024-06-01 12:00:00+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
      "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"};
  for (const auto& r : rows) db.exec("INSERT INTO plain VALUES " + r);

  auto stream = WalStream::start({.conninfo = db.url(), .slot = slot.name, .publications = {"p"}});
  ASSERT_TRUE(stream) << stream.error().message;
  EXPECT_EQ(stream->parameter("TimeZone"), "UTC");
  // Each row rendered as it arrives (its values point into the stream's buffer).
  po::Relation relation;
  std::optional<postgres::PlainRows> plain;
  std::vector<std::string> mine;
  po::Tuple first;
  std::vector<std::string> first_texts;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (mine.size() < rows.size() && std::chrono::steady_clock::now() < deadline) {
    auto next = stream->next(std::chrono::milliseconds(500));
    if (!next || !*next) continue;
    auto m = po::decode((*next)->message);
    if (!m) continue;
    if (auto* r = std::get_if<po::Relation>(&*m)) {
      relation = *r;
      plain = postgres::PlainRows::of(relation, true);
      ASSERT_TRUE(plain) << "every column is of a type the relay renders";
    }
    if (auto* i = std::get_if<po::Insert>(&*m)) {
      auto text = plain->render(i->new_tuple, nullptr, false);
      ASSERT_TRUE(text) << "row " << mine.size() + 1;
      mine.push_back(*text);
      if (mine.size() == 1) {
        EXPECT_EQ(*plain->render(i->new_tuple, nullptr, true), "{\"id\":1}") << "a key-only row: the key alone";
        po::Tuple bc = i->new_tuple;
        bc[16] = po::Value{po::Value::text, "0044-03-15 BC"};
        EXPECT_FALSE(plain->render(bc, nullptr, false)) << "a date before the year 1 is left to the server";
      }
    }
  }
  ASSERT_EQ(mine.size(), rows.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    std::string a, b;
    relay::json_scan::append_minified(a, mine[i]);
    relay::json_scan::append_minified(b, db.value(fmt::format("SELECT to_jsonb(whole)::text FROM plain AS whole WHERE id = {}", i + 1)));
    EXPECT_EQ(a, b) << "row " << i + 1;
  }
  // Left to the server: json (normalized by jsonb), arrays, user types; a date before the year 1.
  po::Relation with_json = relation;
  with_json.columns.push_back({"j", 114, -1, false});
  EXPECT_FALSE(postgres::PlainRows::of(with_json, true));
  po::Relation with_array = relation;
  with_array.columns.push_back({"a", 1007, -1, false});
  EXPECT_FALSE(postgres::PlainRows::of(with_array, true));
  EXPECT_FALSE(postgres::PlainRows::of(relation, false)) << "dates need the stream's text in ISO style";
}

TEST(WalRows, AnUnchangedToastedValueComesFromTheOldRowOrTheTableNeverAsNull) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY, note text, big text)");
  db.exec("ALTER TABLE t ALTER COLUMN big SET STORAGE EXTERNAL");
  db.exec("CREATE TABLE f (id int PRIMARY KEY, note text, big text)");
  db.exec("ALTER TABLE f ALTER COLUMN big SET STORAGE EXTERNAL");
  db.exec("ALTER TABLE f REPLICA IDENTITY FULL");
  for (const char* table : {"t", "f"}) db.exec(std::string("SELECT pgtrickle.enable_outbox('") + table + "', capture => 'wal')");
  db.exec("CREATE PUBLICATION p FOR TABLE t, f");
  db.exec("INSERT INTO t VALUES (1, 'a', repeat('x', 10000))");
  db.exec("INSERT INTO f VALUES (1, 'a', repeat('y', 10000))");
  Slot slot(db, "fill_" + db.name());
  db.exec("UPDATE t SET note = 'b' WHERE id = 1");
  db.exec("UPDATE f SET note = 'b' WHERE id = 1");

  auto stream = WalStream::start({.conninfo = db.url(), .slot = slot.name, .publications = {"p"}});
  ASSERT_TRUE(stream) << stream.error().message;
  for (const char* table : {"t", "f"}) {
    po::Relation relation;
    auto changes = read_changes(*stream, 1, relation);
    ASSERT_EQ(changes.size(), 1u) << table;
    EXPECT_EQ(relation.name, table);
    EXPECT_EQ(changes[0].now[2].kind, po::Value::unchanged_toast) << table;
    std::string rows = "[";
    postgres::append_row_values(relation, changes[0].now, changes[0].old ? &*changes[0].old : nullptr, rows);
    rows += "]";
    EXPECT_EQ(rows.find("\"fill\":true") != std::string::npos, std::string(table) == "t")
        << "REPLICA IDENTITY FULL carries the old value; the default identity does not";
    auto rendered = postgres::RowRenderer::render(db.conn(), relation, rows);
    ASSERT_TRUE(rendered) << rendered.error().message;
    EXPECT_EQ(rendered->at(0), db.value(std::string("SELECT to_jsonb(x)::text FROM ") + table + " AS x WHERE id = 1")) << table;
  }
}

}  // namespace
}  // namespace relay::test

namespace relay::test {
namespace {

// A row's JSON without spaces: rendered by the server (to_jsonb's text) or by the relay, as the
// messages carry it.
std::string minified(std::string_view row) {
  std::string out;
  relay::json_scan::append_minified(out, row);
  return out;
}

std::string rows_text(const std::vector<postgres::DeltaRow>& rows) {
  std::string out;
  for (const auto& r : rows) out += fmt::format("{}{} {}\n", r.row_num, r.is_delete ? "-" : "+", minified(r.data));
  return out;
}

TEST(WalReader, TransactionsComeInChunksWithTheirBeforeImagesAndResumeWhereTheStoredPositionSays) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY, note text)");
  db.exec("SELECT pgtrickle.enable_outbox('t', capture => 'wal')");  // its rows are rendered as its owner
  db.exec("CREATE PUBLICATION p FOR TABLE t");
  Slot slot(db, "reader_" + db.name());
  db.exec("INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 5) AS g");
  db.exec("BEGIN; UPDATE t SET note = 'changed' WHERE id = 2; DELETE FROM t WHERE id = 3; UPDATE t SET id = 10 WHERE id = 4; COMMIT");
  const postgres::WalReader::Table table{"public", "t", slot.name, {"p"}};

  std::optional<postgres::WalReader> reader(std::in_place, db.url(), "test", table);
  ASSERT_TRUE(reader->connect());
  postgres::OutboxRow first, second;
  auto got = reader->next(first, std::chrono::seconds(10));
  ASSERT_TRUE(got && *got);
  EXPECT_TRUE(first.is_claim_check);
  EXPECT_EQ(first.seq, first.id);
  auto a = reader->delta_rows(1, 2);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(rows_text(*a), "1+ {\"id\":1,\"note\":\"n1\"}\n2+ {\"id\":2,\"note\":\"n2\"}\n");
  auto again = reader->delta_rows(2, 2);  // the last row asked for again, then the next
  ASSERT_TRUE(again);
  EXPECT_EQ(rows_text(*again), "2+ {\"id\":2,\"note\":\"n2\"}\n3+ {\"id\":3,\"note\":\"n3\"}\n");
  auto rest = reader->delta_rows(4, 5);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->size(), 2u) << "fewer than asked: the transaction ended";

  got = reader->next(second, std::chrono::seconds(10));
  ASSERT_TRUE(got && *got);
  EXPECT_GT(second.seq, first.seq);
  auto changes = reader->delta_rows(1, 100);
  ASSERT_TRUE(changes);
  EXPECT_EQ(rows_text(*changes),
            "1- {\"id\":2}\n"                         // default identity: the key is the before-image
            "2+ {\"id\":2,\"note\":\"changed\"}\n"
            "3- {\"id\":3}\n"
            "4- {\"id\":4}\n"                         // the key changed: the old key
            "5+ {\"id\":10,\"note\":\"n4\"}\n");

  // The first transaction is stored; a new reader starts with the second, at the row asked for.
  ASSERT_TRUE(reader->confirm(static_cast<postgres::pgoutput::Lsn>(first.seq)));
  wait_until([&] { return db.value("SELECT confirmed_flush_lsn > '" + postgres::pgoutput::format_lsn(first.seq) +
                                   "'::pg_lsn FROM pg_replication_slots WHERE slot_name = '" + slot.name + "'") == "t"; },
             std::chrono::seconds(10));
  reader.reset();
  slot.wait_until_idle();
  postgres::WalReader resumed(db.url(), "test", table);
  ASSERT_TRUE(resumed.connect());
  postgres::OutboxRow replayed;
  got = resumed.next(replayed, std::chrono::seconds(10));
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(replayed.seq, second.seq) << "the same transaction, the same identity";
  auto tail = resumed.delta_rows(3, 100);
  ASSERT_TRUE(tail);
  EXPECT_EQ(rows_text(*tail), "3- {\"id\":3}\n4- {\"id\":4}\n5+ {\"id\":10,\"note\":\"n4\"}\n");
}

// A backlog of small transactions: each one's rows are rendered along with the one before it,
// and still come out with the table's shape of their own time, a truncation in its place.
TEST(WalReader, TransactionsThatArrivedBehindTheCurrentOneComeOutRightAcrossAShapeChange) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY, note text)");
  db.exec("SELECT pgtrickle.enable_outbox('t', capture => 'wal')");  // its rows are rendered as its owner
  db.exec("CREATE PUBLICATION p FOR TABLE t");
  Slot slot(db, "ahead_" + db.name());
  for (int i = 1; i <= 4; ++i) db.exec(fmt::format("INSERT INTO t VALUES ({0}, 'n{0}')", i));
  db.exec("UPDATE t SET note = 'changed' WHERE id = 2");
  db.exec("ALTER TABLE t ADD COLUMN extra int DEFAULT 7");
  db.exec("INSERT INTO t VALUES (5, 'n5')");
  db.exec("DELETE FROM t WHERE id = 1");
  db.exec("TRUNCATE t");
  db.exec("INSERT INTO t VALUES (6, 'n6', 8)");
  db.exec("ALTER TABLE t DROP COLUMN note");
  db.exec("INSERT INTO t VALUES (7, 9)");
  postgres::WalReader reader(db.url(), "test", {"public", "t", slot.name, {"p"}});
  ASSERT_TRUE(reader.connect());

  std::string seen;
  postgres::OutboxRow row;
  std::int64_t last_seq = 0;
  for (int txn = 0; txn < 10; ++txn) {
    auto got = reader.next(row, std::chrono::seconds(10));
    ASSERT_TRUE(got) << got.error().message;
    if (!*got) break;
    EXPECT_GT(row.seq, last_seq) << "commit order";
    last_seq = row.seq;
    if (txn == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the rest arrives meanwhile
    auto rows = reader.delta_rows(1, 100);
    ASSERT_TRUE(rows) << rows.error().message;
    for (const auto& r : *rows)
      seen += r.is_truncate ? "truncate\n" : fmt::format("{} {}\n", r.is_delete ? "-" : "+", minified(r.data));
  }
  EXPECT_EQ(seen,
            "+ {\"id\":1,\"note\":\"n1\"}\n"
            "+ {\"id\":2,\"note\":\"n2\"}\n"
            "+ {\"id\":3,\"note\":\"n3\"}\n"
            "+ {\"id\":4,\"note\":\"n4\"}\n"
            "- {\"id\":2}\n"
            "+ {\"id\":2,\"note\":\"changed\"}\n"
            "+ {\"id\":5,\"note\":\"n5\",\"extra\":7}\n"
            "- {\"id\":1}\n"
            "truncate\n"
            "+ {\"id\":6,\"note\":\"n6\",\"extra\":8}\n"
            "+ {\"id\":7,\"extra\":9}\n");
}

TEST(WalReader, AnIdleSlotFollowsTheServersWal) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("CREATE TABLE busy (id int PRIMARY KEY, pad text)");
  db.exec("CREATE PUBLICATION p FOR TABLE t");
  Slot slot(db, "idle_" + db.name());
  postgres::WalReader reader(db.url(), "test", {"public", "t", slot.name, {"p"}});
  ASSERT_TRUE(reader.connect());
  auto start = db.value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + slot.name + "'");
  db.exec("INSERT INTO busy SELECT g, repeat('x', 100) FROM generate_series(1, 10000) AS g");
  auto written = db.value("SELECT pg_current_wal_lsn()");
  postgres::OutboxRow row;
  bool advanced = wait_until([&] {
    auto got = reader.next(row, std::chrono::milliseconds(500));
    EXPECT_TRUE(got);
    EXPECT_FALSE(got && *got) << "no transaction of t";
    return db.value("SELECT confirmed_flush_lsn >= '" + written + "'::pg_lsn FROM pg_replication_slots WHERE slot_name = '" +
                    slot.name + "'") == "t";
  }, std::chrono::seconds(30));
  EXPECT_TRUE(advanced) << "the slot stayed at " << start << " while the WAL moved to " << written;
}

}  // namespace
}  // namespace relay::test

namespace relay::test {
namespace {

TEST(Publications, AConsumerOfTheStandardProtocolReadsATableThroughCreatePublication) {
  TestDb db;
  db.exec("CREATE TABLE order_totals (id int PRIMARY KEY, total numeric)");
  const std::string publication = db.value("SELECT pgtrickle.create_publication('order_totals')");
  EXPECT_EQ(publication, "pgtrickle_order_totals");
  Slot slot(db, "pub_" + db.name());
  db.exec("INSERT INTO order_totals VALUES (1, 9.50)");
  auto stream = WalStream::start({.conninfo = db.url(), .slot = slot.name, .publications = {publication}});
  ASSERT_TRUE(stream) << stream.error().message;
  po::Relation relation;
  auto changes = read_changes(*stream, 1, relation);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(relation.name, "order_totals");
  EXPECT_EQ(changes[0].now[1].data, "9.50");
  stream = Result<WalStream>(Error{});  // closes the stream before the slot is dropped
  db.exec("SELECT pgtrickle.drop_publication('order_totals')");
  EXPECT_EQ(db.value("SELECT count(*) FROM pg_publication WHERE pubname = 'pgtrickle_order_totals'"), "0");
}

}  // namespace
}  // namespace relay::test
