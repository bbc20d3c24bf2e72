// A pipeline of source type "wal" captures many tables through one publication and one slot:
// every row of every matched table, in commit order across them, each named by its table; tables
// created, altered, truncated, renamed and dropped mid-stream followed; an excluded table never
// seen; a kill -9 losing nothing. Against the real PostgreSQL (wal_level = logical) and the real
// relay.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// "<table>:<commit LSN>:<n>" split into its parts.
struct Identity {
  std::string table;
  long long lsn = 0, n = 0;
};
Identity event_identity(const json& message) {
  static const std::regex shape("(.+):([0-9]+):([0-9]+)");
  std::smatch m;
  std::string key = message["dedup_key"];
  EXPECT_TRUE(std::regex_match(key, m, shape)) << key;
  return {m[1], std::stoll(m[2]), std::stoll(m[3])};
}

// "<stream_table> <op> <payload>" of each message, for comparing sequences (the payload as
// nlohmann::json writes it: keys sorted, numbers as doubles).
std::vector<std::string> summary(const std::vector<json>& lines) {
  std::vector<std::string> out;
  for (const auto& m : lines)
    out.push_back(m["stream_table"].get<std::string>() + " " + m["op"].get<std::string>() + " " +
                  (m.contains("payload") ? m["payload"].dump() : std::string("-")));
  return out;
}

}  // namespace

TEST(WalTables, OnePipelineCapturesManyTablesThroughOneSlotInCommitOrderFollowingWhatHappensToThem) {
  TestDb db;
  std::string url = replication_login_url(db);
  db.exec("CREATE SCHEMA sales");
  db.exec("CREATE TABLE customers (id int PRIMARY KEY, name text)");
  db.exec("CREATE TABLE audit_log (id int PRIMARY KEY, what text)");
  db.exec("CREATE TABLE sales.orders (id int PRIMARY KEY, customer int, amount numeric(10,2))");
  db.exec("CREATE TABLE sales.returns (id int PRIMARY KEY)");
  db.exec("CREATE TABLE notes (body text)");  // no key: its inserts are captured, its updates refused
  std::string out = work_dir() + "/wal-tables-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "shop", {{"source", {{"type", "wal"}, {"tables", {"public.*", "sales.orders"}}, {"exclude", {"public.audit_*"}}}},
                                   {"sink", {{"type", "file"}, {"path", out}}}});
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();

  // One transaction over several tables comes out whole, in its order; an excluded table and a
  // table of the schema no entry names never appear.
  db.exec("BEGIN; INSERT INTO customers VALUES (1, 'ann'); INSERT INTO audit_log VALUES (1, 'x'); "
          "INSERT INTO sales.orders VALUES (10, 1, 9.50); INSERT INTO sales.returns VALUES (1); "
          "UPDATE customers SET name = 'Ann' WHERE id = 1; COMMIT");
  // Out-of-order commits across tables: commit order, not start order.
  auto first = relay::pg::Connection::open(db.url(), "test first");
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first->exec("BEGIN"));
  ASSERT_TRUE(first->exec("INSERT INTO sales.orders VALUES (11, 1, 1)"));
  db.exec("INSERT INTO customers VALUES (2, 'bob')");
  ASSERT_TRUE(first->exec("COMMIT"));
  // A table created later, with its first row in the same transaction.
  db.exec("BEGIN; CREATE TABLE invoices (id int PRIMARY KEY, total int); INSERT INTO invoices VALUES (1, 100); COMMIT");
  // A column added, a truncation, a rename out of the patterns and one into them, a drop.
  db.exec("ALTER TABLE customers ADD COLUMN email text");
  db.exec("INSERT INTO customers VALUES (3, 'cy', 'cy@example.com')");
  db.exec("TRUNCATE sales.orders");
  db.exec("ALTER TABLE invoices SET SCHEMA sales");
  db.exec("INSERT INTO sales.invoices VALUES (2, 200)");  // no entry names sales.invoices
  db.exec("ALTER TABLE sales.returns RENAME TO orders_returned");
  db.exec("ALTER TABLE sales.orders_returned SET SCHEMA public");
  db.exec("INSERT INTO orders_returned VALUES (2)");  // public.* matches it now
  db.exec("DELETE FROM customers WHERE id = 2");
  db.exec("DROP TABLE customers");
  db.exec("INSERT INTO sales.orders VALUES (12, 3, 3)");
  db.exec("INSERT INTO notes VALUES ('hello')");

  const std::vector<std::string> expected = {
      R"(customers insert {"id":1,"name":"ann"})",
      R"(sales.orders insert {"amount":9.5,"customer":1,"id":10})",
      R"(customers update {"id":1,"name":"Ann"})",
      R"(customers insert {"id":2,"name":"bob"})",
      R"(sales.orders insert {"amount":1.0,"customer":1,"id":11})",
      R"(invoices insert {"id":1,"total":100})",
      R"(customers insert {"email":"cy@example.com","id":3,"name":"cy"})",
      R"(sales.orders truncate -)",
      R"(orders_returned insert {"id":2})",
      R"(customers delete {"id":2})",
      R"(sales.orders insert {"amount":3.0,"customer":3,"id":12})",
      R"(notes insert {"body":"hello"})",
  };
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= expected.size(); }, 20s)) << relay.err();
  std::this_thread::sleep_for(500ms);
  auto lines = json_lines(out);
  auto got = summary(lines);
  // A truncation carries no payload; compare it by table and op.
  for (auto& s : got)
    if (s.find(" truncate ") != std::string::npos) s = s.substr(0, s.find(" truncate ")) + " truncate -";
  EXPECT_EQ(got, expected) << relay.err();

  // Keys are each table's primary key; identities are unique, and name the table.
  EXPECT_EQ(lines[0]["key"], "1");
  EXPECT_EQ(lines[1]["key"], "10");
  std::set<std::string> identities;
  long long previous = 0;
  for (const auto& m : lines) {
    EXPECT_TRUE(identities.insert(m["dedup_key"]).second) << m.dump();
    Identity id = event_identity(m);
    EXPECT_EQ(id.table, m["stream_table"].get<std::string>());
    EXPECT_GE(id.lsn, previous) << "commit order";
    previous = id.lsn;
  }
  EXPECT_EQ(event_identity(lines[0]).lsn, event_identity(lines[2]).lsn) << "one transaction, one commit LSN";

  // Operators see which tables flow and which cannot be captured whole, with the fix.
  int port = relay.admin_port();
  ASSERT_TRUE(wait_until([&] { return metric(port, "pgtrickle_relay_table_changes_total{pipeline=\"shop\",table=\"sales.orders\"}") == 4; }, 15s))
      << "each table's changes counted once acknowledged";
  EXPECT_EQ(metric(port, "pgtrickle_relay_table_changes_total{pipeline=\"shop\",table=\"customers\"}"), 5);
  EXPECT_EQ(metric(port, "pgtrickle_relay_table_changes_total{pipeline=\"shop\",table=\"audit_log\"}"), -1) << "an excluded table has no series";
  int status = 0;
  json health;
  ASSERT_TRUE(wait_until([&] {
    health = json::parse(http_get(port, "/health", status));
    for (const auto& t : health["pipelines"][0].value("tables", json::array()))
      if (t["table"] == "notes") return t["changes"] == 1 && t["problem"].is_string();
    return false;
  }, 15s)) << health.dump();
  for (const auto& t : health["pipelines"][0]["tables"])
    if (t["table"] == "notes") EXPECT_NE(t["problem"].get<std::string>().find("ALTER TABLE public.notes REPLICA IDENTITY FULL"), std::string::npos);
    else EXPECT_TRUE(t["problem"].is_null()) << t.dump();
  EXPECT_EQ(metric(port, "pgtrickle_relay_table_capture_problem{pipeline=\"shop\",table=\"notes\"}"), 1);
  EXPECT_EQ(metric(port, "pgtrickle_relay_table_capture_problem{pipeline=\"shop\",table=\"customers\"}"), 0);

  // One slot, one publication, for any number of tables; delete_relay drops both.
  EXPECT_EQ(db.number("SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"), 1);
  // Its publications: the patterns' schemas, and the tables named.
  EXPECT_EQ(db.value("SELECT string_agg(coalesce(n.nspname, c.relname), ',' ORDER BY 1) FROM pg_publication AS p "
                     "LEFT JOIN pg_publication_namespace AS s ON s.pnpubid = p.oid LEFT JOIN pg_namespace AS n ON n.oid = s.pnnspid "
                     "LEFT JOIN pg_publication_rel AS r ON r.prpubid = p.oid LEFT JOIN pg_class AS c ON c.oid = r.prrelid"),
            "orders,public");
  db.exec("SELECT pgtrickle.delete_relay('shop')");
  EXPECT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pg_replication_slots WHERE database = current_database()") == 0; }, 15s));
  EXPECT_EQ(db.number("SELECT count(*) FROM pg_publication"), 0);
}

TEST(WalTables, AKillLosesNothingAndRowsOfATableDroppedMeanwhileStillArrive) {
  TestDb db;
  std::string url = replication_login_url(db);
  db.exec("CREATE TYPE mood AS ENUM ('sad', 'happy')");
  for (const char* t : {"a", "b", "c"}) db.exec(std::string("CREATE TABLE ") + t + " (id int PRIMARY KEY, note text, m mood)");
  std::string out = work_dir() + "/wal-tables-kill-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "all", {{"source", {{"type", "wal"}, {"tables", {"public.*"}}}},
                                  {"sink", {{"type", "file"}, {"path", out}}}, {"batch_size", 100}});
  constexpr int kRows = 3000;
  {
    RelayProcess relay(relay_args_for(url));
    ASSERT_TRUE(slot_streams_soon(db)) << relay.err();
    // Transactions of rows spread over the three tables, some touching all three.
    for (int i = 1; i <= kRows; i += 30)
      db.exec("BEGIN; INSERT INTO a SELECT g, 'a' || g, 'happy' FROM generate_series(" + std::to_string(i) + ", " + std::to_string(i + 9) +
              ") g; INSERT INTO b SELECT g, 'b' || g, 'sad' FROM generate_series(" + std::to_string(i + 10) + ", " + std::to_string(i + 19) +
              ") g; INSERT INTO c SELECT g, 'c' || g, NULL FROM generate_series(" + std::to_string(i + 20) + ", " + std::to_string(i + 29) +
              ") g; COMMIT");
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 500; }, 30s)) << relay.err();
    relay.kill9();
    relay.wait(5s);
  }
  ASSERT_LT(read_lines(out).size(), static_cast<size_t>(kRows)) << "the kill came before the end";
  // While the relay is down, c gets more rows and is dropped: its rows are still in the WAL.
  db.exec("INSERT INTO c VALUES (100001, 'last of c', 'sad')");
  db.exec("DROP TABLE c");
  db.exec("INSERT INTO a VALUES (100002, 'after the drop', 'happy')");
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= static_cast<size_t>(kRows + 2); }, 60s)) << relay.err();
  std::this_thread::sleep_for(500ms);

  auto lines = json_lines(out);
  size_t repeats = 0;
  auto first = by_identity(lines, repeats);
  std::set<int> ids;
  for (const auto& m : lines) ids.insert(m["payload"]["id"].get<int>());
  EXPECT_EQ(first.size(), static_cast<size_t>(kRows + 2)) << "every row once";
  EXPECT_EQ(ids.size(), static_cast<size_t>(kRows + 2));
  EXPECT_LE(repeats, 2u * 100) << "at most the batches in flight are sent again";
  // The dropped table's last row, rendered without the table (its enum value as its text).
  auto last_of_c = std::find_if(lines.begin(), lines.end(), [](const json& m) { return m["payload"]["id"] == 100001; });
  ASSERT_NE(last_of_c, lines.end());
  EXPECT_EQ((*last_of_c)["stream_table"], "c");
  EXPECT_EQ((*last_of_c)["payload"], json::parse(R"({"id":100001,"note":"last of c","m":"sad"})"));
  EXPECT_EQ(lines.back()["payload"]["id"], 100002) << "commit order";
}

TEST(WalTables, ARowFilterAndAColumnListAreAppliedByTheServer) {
  TestDb db;
  std::string url = replication_login_url(db);
  // A filter reads only the replica identity's columns, which a column list holds: (id, status).
  db.exec("CREATE TABLE payments (id int PRIMARY KEY, status text NOT NULL, amount numeric(10,2), card text)");
  db.exec("CREATE UNIQUE INDEX payments_id_status ON payments (id, status)");
  db.exec("ALTER TABLE payments REPLICA IDENTITY USING INDEX payments_id_status");
  db.exec("CREATE TABLE refunds (id int PRIMARY KEY, amount numeric(10,2))");
  std::string out = work_dir() + "/wal-tables-filter-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "paid", {{"source", {{"type", "wal"}, {"tables", {{{"name", "payments"}, {"where", "status <> 'draft'"},
                                                                            {"columns", {"id", "status", "amount"}}},
                                                                           "refunds"}}}},
                                   {"sink", {{"type", "file"}, {"path", out}}}});
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();
  db.exec("INSERT INTO payments VALUES (1, 'draft', 10, '4111'), (2, 'paid', 20, '4222')");
  db.exec("INSERT INTO refunds VALUES (1, 5)");
  db.exec("UPDATE payments SET amount = 21 WHERE id = 2");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 3; }, 15s)) << relay.err();
  std::this_thread::sleep_for(500ms);
  auto got = summary(json_lines(out));
  EXPECT_EQ(got, (std::vector<std::string>{R"(payments insert {"amount":20.0,"id":2,"status":"paid"})",
                                           R"(refunds insert {"amount":5.0,"id":1})",
                                           R"(payments update {"amount":21.0,"id":2,"status":"paid"})"}))
      << "the draft left out, the card never sent";
}

TEST(WalTables, ABackfillSendsEveryTablesRowsOneTableAfterTheOtherWhileTheChangesGoOn) {
  TestDb db;
  std::string url = replication_login_url(db);
  for (const char* t : {"a", "b"}) {
    db.exec(std::string("CREATE TABLE ") + t + " (id int PRIMARY KEY, v text)");
    db.exec(std::string("INSERT INTO ") + t + " SELECT g, 'old' FROM generate_series(1, 300) g");
  }
  db.exec("CREATE TABLE nokey (v text)");  // a backfill reads in key order: passed over
  std::string out = work_dir() + "/wal-tables-backfill-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "all", {{"source", {{"type", "wal"}, {"tables", {"public.*"}}}}, {"sink", {{"type", "file"}, {"path", out}}},
                                  {"batch_size", 50}, {"backfill_chunk_rows", 100}});
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();

  db.exec("SELECT pgtrickle.backfill_relay('all')");
  // Changes race the backfill: for every key, the last message is the row as it is now.
  for (int i = 1; i <= 300; i += 7) {
    db.exec("UPDATE a SET v = 'new " + std::to_string(i) + "' WHERE id = " + std::to_string(i));
    db.exec("UPDATE b SET v = 'new " + std::to_string(i) + "' WHERE id = " + std::to_string(301 - i));
  }
  db.exec("DELETE FROM b WHERE id = 150");
  ASSERT_TRUE(wait_until([&] {
    return db.number("SELECT count(*) FROM pgtrickle.relay_backfills WHERE pipeline = 'all' AND state = 'done'") == 2;
  }, 60s)) << relay.err();
  EXPECT_EQ(db.value("SELECT string_agg(source_table, ',' ORDER BY id) FROM pgtrickle.relay_backfills WHERE pipeline = 'all'"), "a,b")
      << "one table after the other";
  std::this_thread::sleep_for(1s);

  auto lines = json_lines(out);
  std::map<std::string, json> last;  // "<table>:<id>" -> its last message
  std::map<std::string, int> reads;
  for (const auto& m : lines) {
    std::string table = m["stream_table"];
    json row = m["payload"];
    last[table + ":" + std::to_string(row["id"].get<int>())] = m;
    if (m["op"] == "read") {
      ++reads[table];
      EXPECT_NE(m["dedup_key"].get<std::string>().find(table + ":backfill"), std::string::npos) << m.dump();
    }
  }
  EXPECT_GT(reads["a"], 250) << "a's rows were read (those changed meanwhile may go as their change only)";
  EXPECT_GT(reads["b"], 250);
  EXPECT_EQ(reads.count("nokey"), 0u);
  for (const char* t : {"a", "b"})
    for (int id = 1; id <= 300; ++id) {
      std::string now = db.value(std::string("SELECT coalesce((SELECT v FROM ") + t + " WHERE id = " + std::to_string(id) + "), 'gone')");
      auto it = last.find(std::string(t) + ":" + std::to_string(id));
      ASSERT_NE(it, last.end()) << t << " " << id << " never sent";
      if (now == "gone") EXPECT_EQ(it->second["op"], "delete") << it->second.dump();
      else EXPECT_EQ(it->second["payload"]["v"], now) << t << " " << id << ": the last message is the row as it is now";
    }

  // One table by name; a name that is not one of the pipeline's tables is refused, naming them.
  db.exec("SELECT pgtrickle.backfill_relay('all', 'public.b')");
  ASSERT_TRUE(wait_until([&] {
    return db.number("SELECT count(*) FROM pgtrickle.relay_backfills WHERE pipeline = 'all' AND state = 'done'") == 3;
  }, 60s)) << relay.err();
  EXPECT_EQ(db.value("SELECT source_table FROM pgtrickle.relay_backfills WHERE pipeline = 'all' ORDER BY id DESC LIMIT 1"), "b");
  EXPECT_EQ(db.value("SELECT backfill->>'table' FROM pgtrickle.list_relay_configs() WHERE name = 'all'"), "public.b");
  std::string error = db.error_of("SELECT pgtrickle.backfill_relay('all', 'public.nope')");
  EXPECT_NE(error.find("\"public.nope\" is not a table pipeline \"all\" captures"), std::string::npos) << error;
}

TEST(WalTables, ATomlPipelineCapturesWhatTheRelaysLoginOwnsAndIsRefusedTheRest) {
  TestDb db;
  std::string url = replication_login_url(db);
  std::string login = url.substr(url.find("://") + 3, url.find('@') - url.find("://") - 3);
  db.exec("CREATE TABLE theirs (id int PRIMARY KEY)");
  db.exec("CREATE TABLE mine (id int PRIMARY KEY, v text)");
  db.exec("ALTER TABLE mine OWNER TO " + login);
  std::string out = work_dir() + "/wal-tables-toml-" + db.name() + ".jsonl";
  {
    // A table the relay's login does not own: refused at start, naming it and why.
    std::string toml = write_toml(db, "[[pipelines]]\nname = \"grab\"\nsource = { type = \"wal\", tables = [\"public.theirs\"] }\n"
                                      "sink = { type = \"file\", path = \"" + out + "\" }\n");
    RelayProcess relay({"--config", toml});
    std::string error = wait_for_pipeline_error(relay, "grab");
    EXPECT_NE(error.find("may not capture public.theirs (owned by"), std::string::npos) << error;
    EXPECT_NE(error.find("capturing a table takes its owner's rights"), std::string::npos) << error;
  }
  EXPECT_EQ(db.number("SELECT count(*) FROM pg_publication"), 0) << "nothing published for a refused pipeline";
  std::string toml = write_toml(db, "[[pipelines]]\nname = \"own\"\nsource = { type = \"wal\", tables = [\"mine\"] }\n"
                                    "sink = { type = \"file\", path = \"" + out + "\" }\n");
  RelayProcess relay({"--config", toml});
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();
  db.exec("INSERT INTO mine VALUES (1, 'one')");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 1; }, 15s)) << relay.err();
  EXPECT_EQ(json_lines(out)[0]["payload"], json::parse(R"({"id":1,"v":"one"})"));
}

// "failover": true (a failover slot, PostgreSQL 17+) on an older server: refused, naming the
// version, before any slot is made.
TEST(WalTables, AFailoverSlotBelowPostgres17IsRefusedNamingTheVersion) {
  TestDb db;
  if (db.number("SELECT current_setting('server_version_num')::int") >= 170000) GTEST_SKIP() << "a server of 17 or later";
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  set_outbox_pipeline(db, "fo", {{"source", {{"type", "wal"}, {"tables", {"public.t"}}, {"failover", true}}},
                                 {"sink", {{"type", "file"}, {"path", work_dir() + "/failover-" + db.name()}}}});
  RelayProcess relay({"--postgres-url", replication_login_url(db), "--metrics-addr", "127.0.0.1:0"});
  std::string error = wait_for_pipeline_error(relay, "fo");
  EXPECT_NE(error.find("failover slots need PostgreSQL 17 or later, and this server is 15"), std::string::npos) << error;
  EXPECT_EQ(db.number("SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"), 0)
      << "no slot made for a refused pipeline";
}

// "failover": true on PostgreSQL 17 or later (the pg17.wal entry): a new pipeline's slot is made a
// failover slot, and the slot a pipeline already has is made one (ALTER_REPLICATION_SLOT) when the
// key is added; changes go on through it. (Its copy on a standby carrying the pipeline across a
// promotion: faults.Postgres/FaultFailover.*)
TEST(WalTables, AFailoverPipelinesSlotIsAFailoverSlotOnPostgres17) {
  TestDb db;
  if (db.number("SELECT current_setting('server_version_num')::int") < 170000) GTEST_SKIP() << "a server older than 17";
  std::string url = replication_login_url(db);
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("CREATE TABLE u (id int PRIMARY KEY)");
  std::string out = work_dir() + "/failover17-" + db.name() + ".jsonl", out_u = out + ".u";
  auto wal_to = [](const std::string& table, const std::string& path, bool failover) {
    json source = {{"type", "wal"}, {"tables", {table}}};
    if (failover) source["failover"] = true;
    return json{{"source", source}, {"sink", {{"type", "file"}, {"path", path}}}};
  };
  set_outbox_pipeline(db, "plain", wal_to("public.t", out, false));
  set_outbox_pipeline(db, "fo", wal_to("public.u", out_u, true));
  {
    RelayProcess relay(relay_args_for(url));
    ASSERT_TRUE(wait_until([&] { return slot_streams(db, "s.failover") && slot_streams(db, "NOT s.failover"); }, 60s)) << relay.err();
    db.exec("INSERT INTO t VALUES (1)");
    db.exec("INSERT INTO u VALUES (1)");
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 1 && read_lines(out_u).size() == 1; }, 15s)) << relay.err();
    relay.signal(SIGTERM);
    ASSERT_EQ(relay.wait(20s), 0) << relay.err();
  }
  // The pipeline without the key gets it: its slot becomes a failover slot, from where it was.
  set_outbox_pipeline(db, "plain", wal_to("public.t", out, true));
  db.exec("INSERT INTO t VALUES (2)");
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(wait_until([&] { return relay.err().find("Made the replication slot a failover slot.") != std::string::npos; }, 30s))
      << relay.err();
  db.exec("INSERT INTO t VALUES (3)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 3; }, 30s)) << relay.err();
  std::vector<int> ids;
  for (const auto& m : json_lines(out)) ids.push_back(m["payload"]["id"]);
  EXPECT_EQ(ids, (std::vector<int>{1, 2, 3})) << "the change made while the relay was down came from the same slot";
  EXPECT_EQ(db.value("SELECT string_agg(failover::text, ',') FROM pg_replication_slots WHERE database = current_database()"),
            "true,true");
}

// A whole database through one slot with "format": "debezium": each table's events describe it
// (its schema and name, its key, its columns as the WAL gives them), with the transaction and the
// commit's LSN; a table created while the pipeline runs too.
TEST(WalTables, DebeziumEventsDescribeEachTableTheyCameFrom) {
  TestDb db;
  std::string url = replication_login_url(db);
  db.exec("CREATE SCHEMA sales");
  db.exec("CREATE TABLE sales.orders (id int PRIMARY KEY, total numeric(10,2) NOT NULL)");
  db.exec("CREATE TABLE customers (id int PRIMARY KEY, name text)");
  std::string out = work_dir() + "/wal-tables-dbz-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "cdc", {{"source", {{"type", "wal"}, {"tables", {"public.*", "sales.*"}}}},
                                  {"sink", {{"type", "file"}, {"path", out}}}, {"format", "debezium"}, {"topic_prefix", "shop"}});
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();
  db.exec("BEGIN; INSERT INTO sales.orders VALUES (1, 9.99); INSERT INTO customers VALUES (7, 'Ann'); COMMIT");
  db.exec("CREATE TABLE notes (k text PRIMARY KEY, body text)");
  db.exec("INSERT INTO notes VALUES ('a', 'later')");
  db.exec("DELETE FROM customers");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 4; }, 15s)) << relay.err();
  std::this_thread::sleep_for(300ms);
  auto m = json_lines(out);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0]["source"]["schema"], "sales");
  EXPECT_EQ(m[0]["source"]["table"], "orders");
  EXPECT_EQ(m[0]["after"]["total"], "A+c=") << "Decimal(10,2) 9.99: the unscaled 999, base64";
  EXPECT_EQ(m[1]["source"]["table"], "customers");
  EXPECT_EQ(m[0]["source"]["txId"], m[1]["source"]["txId"]) << "one transaction";
  EXPECT_LT(m[0]["source"]["lsn"].get<long long>(), m[1]["source"]["lsn"].get<long long>()) << "each change's own LSN";
  EXPECT_EQ(m[0]["source"]["name"], "shop");
  EXPECT_EQ(m[2]["source"]["table"], "notes");
  EXPECT_EQ(m[2]["after"], json({{"k", "a"}, {"body", "later"}}));
  EXPECT_EQ(m[3]["op"], "d");
  EXPECT_EQ(m[3]["before"], json({{"id", 7}, {"name", nullptr}})) << "REPLICA IDENTITY DEFAULT: the key, other columns null";
  EXPECT_GT(m[2]["source"]["lsn"].get<long long>(), m[0]["source"]["lsn"].get<long long>());
}
