// Backfill end to end: backfill_relay(name) sends a table's existing rows (op read) through its
// pipeline, chunk by chunk, then the changes go on; while writers update, delete and insert during
// the backfill, the last message of every key is the row's final value; a kill -9 resumes; a slice
// sends only its rows; cancel stops it; "backfill": "initial" does it once. Both capture modes,
// against the real PostgreSQL and the real relay running as the least-privileged relay login.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "fixture.h"
#include "util/strings.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// The relay's login, with REPLICATION when the table is captured from the WAL.
std::string login_for(TestDb& db, const std::string& capture) {
  return capture == "wal" ? replication_login_url(db) : db.relay_url();
}

// Table "items" (id, region, n, note) with `rows` rows, captured with `capture`, and a pipeline
// "items-out" to a file whose path is returned.
std::string items_to_file(TestDb& db, const std::string& capture, long rows, json extra = json::object()) {
  db.exec("CREATE TABLE items (id bigint PRIMARY KEY, region text NOT NULL, n int NOT NULL, note text)");
  db.exec("INSERT INTO items SELECT g, CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'us' END, g, 'row ' || g "
          "FROM generate_series(1, " + std::to_string(rows) + ") AS g");
  db.exec("ANALYZE items");
  db.exec("SELECT pgtrickle.enable_outbox('items', capture => '" + capture + "')");
  std::string out = work_dir() + "/backfill-" + capture + "-" + db.name() + ".jsonl";
  json config = {{"stream_table", "items"}, {"sink_type", "file"}, {"path", out}, {"backfill_chunk_rows", 500}};
  config.update(extra);
  set_outbox_pipeline(db, "items-out", config);
  return out;
}

// A WAL pipeline sends what commits after its slot exists: changes are made once it streams.
void wait_until_reading(TestDb& db, const std::string& capture, RelayProcess& relay) {
  if (capture != "wal") return;
  ASSERT_TRUE(wait_until([&] {
    return db.number("SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
                     "WHERE s.database = current_database()") == 1;
  }, 20s)) << relay.err();
}

std::string backfill_state(TestDb& db) {
  return db.value("SELECT coalesce((SELECT state FROM pgtrickle.relay_backfills ORDER BY id DESC LIMIT 1), 'none')");
}

// The last message of each key in `lines` (a truncation forgets every key before it).
std::map<long long, json> last_by_key(const std::vector<json>& lines) {
  std::map<long long, json> last;
  for (const auto& m : lines) {
    if (m["op"] == "truncate") {
      last.clear();
      continue;
    }
    last[m["payload"]["id"].get<long long>()] = m;
  }
  return last;
}

// Every row of the table now, by key, as to_jsonb renders it.
std::map<long long, json> rows_now(TestDb& db) {
  std::map<long long, json> rows;
  for (auto& r : json::parse(db.value("SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') FROM items i"))) rows[r["id"]] = r;
  return rows;
}

// Writes a marker row and waits until its message is in the file: everything committed before it
// was delivered.
void wait_for_marker(TestDb& db, const std::string& out, RelayProcess& relay, long long id) {
  db.exec("INSERT INTO items VALUES (" + std::to_string(id) + ", 'marker', 0, 'marker')");
  ASSERT_TRUE(wait_until([&] {
    for (const auto& m : json_lines(out))
      if (m["op"] == "insert" && m["payload"]["id"] == id) return true;
    return false;
  }, 60s)) << relay.err();
}

class Backfill : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(Backfill, ExistingRowsThenChangesArriveWithNothingMissing) {
  const std::string capture = GetParam();
  TestDb db;
  std::string out = items_to_file(db, capture, 2200);
  RelayProcess relay(relay_args_for(login_for(db, capture)));
  wait_until_reading(db, capture, relay);
  int port = relay.admin_port();

  EXPECT_EQ(db.value("SELECT pgtrickle.backfill_relay('items-out')"), "1");
  ASSERT_TRUE(wait_until([&] { return backfill_state(db) == "done"; }, 60s)) << relay.err();
  db.exec("INSERT INTO items VALUES (5000, 'eu', 5000, 'new')");
  db.exec("UPDATE items SET n = -1 WHERE id = 7");
  db.exec("DELETE FROM items WHERE id = 8");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 2200 + 3; }, 30s)) << relay.err();
  std::this_thread::sleep_for(300ms);

  auto lines = json_lines(out);
  ASSERT_EQ(lines.size(), 2203u) << "each row once, then each change";
  std::set<long long> read;
  for (size_t i = 0; i < 2200; ++i) {
    const auto& m = lines[i];
    ASSERT_EQ(m["op"], "read") << m.dump();
    long long id = m["payload"]["id"];
    json row = {{"id", id}, {"region", id % 3 == 0 ? "eu" : "us"}, {"n", id}, {"note", "row " + std::to_string(id)}};
    EXPECT_EQ(m["payload"], row) << "the row as it was read";
    EXPECT_EQ(m["backfill_id"], 1);
    EXPECT_EQ(m["outbox_id"], nullptr);
    EXPECT_EQ(m["key"], std::to_string(id));
    EXPECT_EQ(m["dedup_key"], "outbox_items:backfill1:" + std::to_string(id)) << "a stable identity of its own";
    if (i > 0) {
      EXPECT_GT(id, lines[i - 1]["payload"]["id"].get<long long>()) << "key order";
    }
    read.insert(id);
  }
  EXPECT_EQ(read.size(), 2200u);
  EXPECT_EQ(lines[2200]["op"], "insert");
  EXPECT_EQ(lines[2201]["op"], "update");
  EXPECT_EQ(lines[2202]["op"], "delete");

  // Observable: the catalog, list_relay_configs() and the metrics say what was done.
  EXPECT_EQ(db.value("SELECT rows_done || '/' || rows_sent || '/' || rows_estimated FROM pgtrickle.relay_backfills"), "2200/2200/2200");
  json summary = json::parse(db.value("SELECT backfill FROM pgtrickle.list_relay_configs() WHERE name = 'items-out'"));
  EXPECT_EQ(summary["state"], "done");
  EXPECT_EQ(summary["rows_done"], 2200);
  EXPECT_TRUE(wait_until([&] { return metric(port, "pgtrickle_relay_backfill_rows_total{pipeline=\"items-out\"}") == 2200; }, 15s));
  // It read through the table's read function, its owner's, made when the table was captured: none
  // was made for the backfill.
  EXPECT_EQ(db.value("SELECT string_agg(p.proname || ' of ' || (p.proowner = c.relowner)::text, ',') FROM pg_proc AS p, pg_class AS c "
                     "WHERE p.proname ~ '^_backfill_rows_' AND c.oid = 'items'::regclass"),
            "_backfill_rows_t" + db.value("SELECT 'items'::regclass::oid") + " of true");
}

TEST_P(Backfill, EveryKeysLastMessageIsItsFinalRowWhileWritersRaceTheBackfill) {
  const std::string capture = GetParam();
  TestDb db;
  const long rows = 20000;
  std::string out = items_to_file(db, capture, rows, {{"backfill_chunk_rows", 300}, {"batch_size", 200}});
  RelayProcess relay(relay_args_for(login_for(db, capture)));
  wait_until_reading(db, capture, relay);

  // Writers update, delete and insert random keys, in transactions of one to three statements,
  // from before the backfill starts until after it ends.
  std::atomic<bool> stop{false};
  std::atomic<long> writes{0};
  auto writer = [&](int seed) {
    auto c = relay::pg::Connection::open(db.url(), "writer");
    ASSERT_TRUE(c.has_value());
    std::mt19937 rng(seed);
    long next_id = rows + 1 + seed * 1000000L;
    while (!stop) {
      std::string sql = "BEGIN;";
      for (int k = 0, n = 1 + rng() % 3; k < n; ++k) {
        long id = 1 + rng() % rows;
        switch (rng() % 4) {
          case 0: sql += "DELETE FROM items WHERE id = " + std::to_string(id) + ";"; break;
          case 1: sql += "INSERT INTO items VALUES (" + std::to_string(next_id++) + ", 'eu', 1, 'inserted');"; break;
          default: sql += "UPDATE items SET n = n + 1, note = 'w" + std::to_string(seed) + "' WHERE id = " + std::to_string(id) + ";";
        }
      }
      sql += "COMMIT;";
      if (c->exec(sql)) ++writes;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  };
  std::thread w1(writer, 1), w2(writer, 2);
  std::this_thread::sleep_for(200ms);
  db.exec("SELECT pgtrickle.backfill_relay('items-out')");
  bool done = wait_until([&] { return backfill_state(db) == "done"; }, 120s);
  std::this_thread::sleep_for(200ms);
  stop = true;
  w1.join();
  w2.join();
  ASSERT_TRUE(done) << relay.err();
  ASSERT_GT(writes.load(), 100) << "the writers raced the backfill";
  wait_for_marker(db, out, relay, -1);

  auto lines = json_lines(out);
  auto last = last_by_key(lines);
  auto now = rows_now(db);
  long reads = 0;
  for (const auto& m : lines) reads += m["op"] == "read";
  EXPECT_GT(reads, rows / 2) << "most rows came from the backfill";
  EXPECT_LE(reads, rows + 20000) << "no row read more than the rows the table had";
  size_t wrong = 0;
  for (const auto& [id, row] : now) {
    auto it = last.find(id);
    if (it == last.end() || it->second["op"] == "delete" || it->second["payload"] != row) {
      if (++wrong <= 5)
        ADD_FAILURE() << "key " << id << ": the table holds " << row.dump() << ", the last message is "
                      << (it == last.end() ? std::string("none") : it->second.dump());
    }
  }
  for (const auto& [id, m] : last)
    if (!now.count(id) && m["op"] != "delete" && ++wrong <= 10)
      ADD_FAILURE() << "key " << id << " is gone from the table, its last message is " << m.dump();
  EXPECT_EQ(wrong, 0u) << "keys whose last message is not their final row, of " << now.size();
}

TEST_P(Backfill, AKillMidBackfillResumesFromTheLastStoredChunkWithoutAGap) {
  const std::string capture = GetParam();
  TestDb db;
  const long rows = 30000;
  std::string out = items_to_file(db, capture, rows, {{"backfill_chunk_rows", 1000}, {"batch_size", 100}});
  std::string url = login_for(db, capture);
  {
    RelayProcess relay(relay_args_for(url));
    wait_until_reading(db, capture, relay);
    db.exec("SELECT pgtrickle.backfill_relay('items-out')");
    ASSERT_TRUE(wait_until([&] { return db.number("SELECT rows_done FROM pgtrickle.relay_backfills") >= 3000; }, 60s)) << relay.err();
    relay.kill9();
    relay.wait(5s);
  }
  long long done_at_kill = db.number("SELECT rows_done FROM pgtrickle.relay_backfills");
  ASSERT_LT(done_at_kill, rows) << "killed mid-backfill";
  db.exec("UPDATE items SET note = 'after the kill' WHERE id = " + std::to_string(rows));
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(wait_until([&] { return backfill_state(db) == "done"; }, 90s)) << relay.err();
  EXPECT_NE(relay.err().find("Resuming the backfill"), std::string::npos) << relay.err();
  wait_for_marker(db, out, relay, -1);

  auto lines = json_lines(out);
  std::map<long long, int> reads;
  for (const auto& m : lines)
    if (m["op"] == "read") ++reads[m["payload"]["id"].get<long long>()];
  EXPECT_EQ(reads.size(), static_cast<size_t>(rows)) << "every row read at least once";
  long repeated = 0;
  for (auto& [id, n] : reads) repeated += n - 1;
  EXPECT_LE(repeated, 1000 + 200) << "at most the chunk in flight is sent again";
  auto last = last_by_key(lines);
  EXPECT_EQ(last[rows]["payload"]["note"], "after the kill") << "the change made while no relay ran ends last";
  EXPECT_EQ(db.value("SELECT rows_done FROM pgtrickle.relay_backfills"), std::to_string(rows));
}

INSTANTIATE_TEST_SUITE_P(Capture, Backfill, ::testing::Values("trigger", "wal"),
                         [](const auto& info) { return info.param == "wal" ? std::string("Wal") : std::string("Trigger"); });

TEST(BackfillSlice, ASlicedBackfillSendsOnlyItsSliceAndOnlyTheTablesOwnerMayGiveACondition) {
  TestDb db;
  std::string out = items_to_file(db, "trigger", 900);
  // A condition that does not compile, or is not SQL at all, is refused naming what is wrong.
  EXPECT_NE(db.error_of("SELECT pgtrickle.backfill_relay('items-out', \"where\" => 'nosuch = 1')").find("column \"nosuch\" does not exist"),
            std::string::npos);
  EXPECT_NE(db.error_of("SELECT pgtrickle.backfill_relay('items-out', 'region = ''eu''); DROP TABLE items; (true')")
                .find("does not compile"), std::string::npos);
  EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.relay_backfills"), "0");
  EXPECT_EQ(db.value("SELECT to_regclass('items') IS NOT NULL"), "t");
  // A pipeline admin who does not own the table may backfill it whole, not run a condition as its owner.
  db.exec("CREATE ROLE bf_admin_" + db.name() + " LOGIN IN ROLE pgtrickle_relay_admin");
  std::string admin = "bf_admin_" + db.name();
  std::string url = db.url();
  auto user = url.find("://") + 3;
  auto as_admin = relay::pg::Connection::open(url.substr(0, user) + admin + url.substr(url.find('@', user)), "admin");
  ASSERT_TRUE(as_admin.has_value()) << as_admin.error().message;
  auto refused = as_admin->exec("SELECT pgtrickle.backfill_relay('items-out', \"where\" => 'true')");
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("must be owner of table"), std::string::npos) << refused.error().message;

  RelayProcess relay(relay_args_for(db.relay_url()));
  EXPECT_GT(db.number("SELECT pgtrickle.backfill_relay('items-out', \"where\" => 'region = ''eu'' AND n > 30')"), 0);
  ASSERT_TRUE(wait_until([&] { return backfill_state(db) == "done"; }, 60s)) << relay.err();
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 290; }, 15s)) << relay.err();
  std::this_thread::sleep_for(300ms);
  auto lines = json_lines(out);
  EXPECT_EQ(lines.size(), 290u) << "ids 33, 36, ... 900";
  for (const auto& m : lines) {
    EXPECT_EQ(m["payload"]["region"], "eu");
    EXPECT_GT(m["payload"]["n"].get<int>(), 30);
  }
  EXPECT_EQ(db.value("SELECT rows_estimated > 0 AND rows_done = 290 FROM pgtrickle.relay_backfills"), "t");
  db.exec("DROP ROLE " + admin);
}

TEST(BackfillCancel, CancelStopsTheBackfillAndTheChangesGoOn) {
  TestDb db;
  std::string out = items_to_file(db, "trigger", 100000, {{"backfill_chunk_rows", 200}, {"batch_size", 10}});
  RelayProcess relay(relay_args_for(db.relay_url()));
  db.exec("SELECT pgtrickle.backfill_relay('items-out')");
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT rows_done FROM pgtrickle.relay_backfills") >= 400; }, 60s)) << relay.err();
  // A session holding the table's exclusive lock holds the next chunk's read, so the backfill is
  // still under way however fast this machine reads the rest.
  auto holder = relay::pg::Connection::open(db.url(), "test lock");
  ASSERT_TRUE(holder) << holder.error().message;
  ASSERT_TRUE(holder->exec("BEGIN"));
  ASSERT_TRUE(holder->exec("LOCK TABLE items IN ACCESS EXCLUSIVE MODE"));
  // /health shows its progress while it runs.
  int port = relay.admin_port();
  json progress;
  ASSERT_TRUE(wait_until([&] {
    int status = 0;
    auto health = json::parse(http_get(port, "/health", status), nullptr, false);
    if (health.is_discarded() || !health.contains("pipelines") || health["pipelines"].empty()) return false;
    progress = health["pipelines"][0].value("backfill", json());
    return progress.is_object() && progress["rows_done"].get<long>() >= 400;
  }, 15s)) << relay.err();
  EXPECT_EQ(progress["id"], 1);
  EXPECT_EQ(progress["rows_estimated"], 100000);
  EXPECT_GT(progress["rows_per_second"].get<double>(), 0);
  EXPECT_EQ(db.value("SELECT pgtrickle.cancel_backfill('items-out')"), "1");
  EXPECT_EQ(backfill_state(db), "cancelled");
  ASSERT_TRUE(holder->exec("COMMIT"));  // the chunk read meanwhile never goes out
  EXPECT_EQ(db.value("SELECT count(*) FROM pg_proc WHERE proname ~ '^_backfill_rows_[0-9]+$'"), "0") << "none made for it";
  wait_for_marker(db, out, relay, -1);
  size_t reads_then = 0;
  for (const auto& m : json_lines(out)) reads_then += m["op"] == "read";
  EXPECT_LT(reads_then, 100000u);
  std::this_thread::sleep_for(1500ms);
  size_t reads_later = 0;
  for (const auto& m : json_lines(out)) reads_later += m["op"] == "read";
  EXPECT_EQ(reads_later, reads_then) << "no row read after the cancel was acknowledged";
  EXPECT_NE(relay.err().find("The backfill was cancelled"), std::string::npos) << relay.err();
  EXPECT_TRUE(wait_until([&] {
    int status = 0;
    auto health = json::parse(http_get(port, "/health", status), nullptr, false);
    return !health.is_discarded() && !health["pipelines"].empty() && !health["pipelines"][0].contains("backfill");
  }, 15s)) << "/health no longer shows it";
  // Nothing to cancel now: a notice, not an error; an unknown pipeline is an error.
  EXPECT_EQ(db.value("SELECT coalesce(pgtrickle.cancel_backfill('items-out')::text, 'none')"), "none");
  EXPECT_NE(db.error_of("SELECT pgtrickle.cancel_backfill('nosuch')").find("not found"), std::string::npos);
  // A new backfill may start after a cancel.
  EXPECT_EQ(db.value("SELECT pgtrickle.backfill_relay('items-out')"), "2");
}

TEST(BackfillInitial, InitialSendsTheRowsTheFirstTimeOnlyForSqlAndTomlPipelines) {
  TestDb db;
  std::string out = items_to_file(db, "trigger", 700, {{"backfill", "initial"}});
  std::string toml_out = work_dir() + "/initial-toml-" + db.name() + ".jsonl";
  std::string toml = write_toml(db, "[[pipeline]]\nname = \"items-file\"\nbackfill = \"initial\"\nbackfill_chunk_rows = 250\n"
                                    "source = { type = \"outbox\", stream_table = \"items\" }\n"
                                    "sink = { type = \"file\", path = \"" + toml_out + "\" }\n");
  {
    RelayProcess relay({"--config", toml});
    ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.relay_backfills WHERE state = 'done'") == 2; }, 60s))
        << relay.err();
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 700 && read_lines(toml_out).size() >= 700; }, 15s));
    relay.signal(SIGTERM);
    relay.wait(10s);
  }
  RelayProcess relay({"--config", toml});
  db.exec("UPDATE items SET n = 0 WHERE id = 1");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 701 && read_lines(toml_out).size() >= 701; }, 30s)) << relay.err();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(read_lines(out).size(), 701u) << "a restart does not backfill again";
  EXPECT_EQ(read_lines(toml_out).size(), 701u);
  EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.relay_backfills"), "2");
  // A pipeline of the file is backfilled by name too, once it has stored a position.
  db.exec("SELECT pgtrickle.backfill_relay('items-file')");
  ASSERT_TRUE(wait_until([&] { return read_lines(toml_out).size() >= 1401; }, 30s)) << relay.err();
  EXPECT_EQ(read_lines(out).size(), 701u) << "only that pipeline";
  // A reverse pipeline cannot take it.
  EXPECT_NE(db.error_of("SELECT pgtrickle.set_relay_inbox('in', config => '{\"source_type\": \"stdin\", \"inbox_table\": \"x\", "
                        "\"backfill\": \"initial\"}')").find("only a forward pipeline reading an outbox"),
            std::string::npos);
}

TEST(BackfillRefusals, TablesWithoutAKeyEventOutboxesAndInboxPipelinesGetAClearError) {
  TestDb db;
  db.exec("CREATE TABLE nokey (a int, b text)");
  db.exec("SELECT pgtrickle.enable_outbox('nokey')");
  set_outbox_pipeline(db, "nokey-out", {{"stream_table", "nokey"}, {"sink_type", "stdout"}});
  EXPECT_NE(db.error_of("SELECT pgtrickle.backfill_relay('nokey-out')").find("has no primary key"), std::string::npos);
  db.exec("SELECT pgtrickle.create_outbox('events')");
  set_outbox_pipeline(db, "events-out", {{"outbox", "events"}, {"sink_type", "stdout"}});
  EXPECT_NE(db.error_of("SELECT pgtrickle.backfill_relay('events-out')").find("event outbox"), std::string::npos);
  EXPECT_NE(db.error_of("SELECT pgtrickle.backfill_relay('nosuch')").find("not found"), std::string::npos);
  // "where" is a reserved word: written bare it is a syntax error; quoted, or second, it is the condition.
  EXPECT_NE(db.error_of("SELECT pgtrickle.backfill_relay('nokey-out', where => 'true')").find("syntax error"), std::string::npos);
}

TEST(BackfillTakeover, AStandbyTakesOverTheBackfillOfAKilledOwnerAndFinishesIt) {
  TestDb db;
  const long rows = 30000;
  std::string out = items_to_file(db, "trigger", rows, {{"backfill_chunk_rows", 1000}, {"batch_size", 100}});
  RelayProcess owner(relay_args_for(db.relay_url()));
  ASSERT_TRUE(wait_until([&] { return owner.err().find("Took ownership") != std::string::npos; }, 20s)) << owner.err();
  RelayProcess standby(relay_args_for(db.relay_url()));
  standby.admin_port();
  db.exec("SELECT pgtrickle.backfill_relay('items-out')");
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT rows_done FROM pgtrickle.relay_backfills") >= 3000; }, 60s)) << owner.err();
  owner.kill9();
  owner.wait(5s);
  ASSERT_LT(db.number("SELECT rows_done FROM pgtrickle.relay_backfills"), rows) << "killed mid-backfill";
  ASSERT_TRUE(wait_until([&] { return backfill_state(db) == "done"; }, 90s)) << standby.err();
  EXPECT_NE(standby.err().find("Resuming the backfill"), std::string::npos) << standby.err();
  std::set<long long> read;
  for (const auto& m : json_lines(out))
    if (m["op"] == "read") read.insert(m["payload"]["id"].get<long long>());
  EXPECT_EQ(read.size(), static_cast<size_t>(rows)) << "every row read, across the takeover";
}

TEST(BackfillFailure, AChunkThatCannotBeReadEndsTheBackfillWithTheReasonAndTheChangesGoOn) {
  TestDb db;
  std::string out = items_to_file(db, "trigger", 100000, {{"backfill_chunk_rows", 200}, {"batch_size", 10}});
  RelayProcess relay(relay_args_for(db.relay_url()));
  db.exec("SELECT pgtrickle.backfill_relay('items-out', \"where\" => 'note IS NOT NULL')");
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT rows_done FROM pgtrickle.relay_backfills") >= 400; }, 60s)) << relay.err();
  db.exec("ALTER TABLE items DROP COLUMN note");  // the condition no longer compiles
  ASSERT_TRUE(wait_until([&] { return backfill_state(db) == "failed"; }, 30s)) << relay.err();
  EXPECT_NE(db.value("SELECT error FROM pgtrickle.relay_backfills").find("note"), std::string::npos);
  EXPECT_NE(relay.err().find("The backfill cannot read its table and is ended"), std::string::npos) << relay.err();
  // Its condition's function, the owner's, stays until a session acting for the owner asks for the
  // next backfill; the relay calls it no more (the backfill ended).
  EXPECT_EQ(db.value("SELECT count(*) FROM pg_proc WHERE proname ~ '^_backfill_rows_[0-9]+$'"), "1");
  db.exec("INSERT INTO items VALUES (-1, 'marker', 0)");
  EXPECT_TRUE(wait_until([&] {
    for (const auto& m : json_lines(out))
      if (m["op"] == "insert" && m["payload"]["id"] == -1) return true;
    return false;
  }, 30s)) << "the pipeline goes on";
  EXPECT_EQ(json::parse(db.value("SELECT backfill FROM pgtrickle.list_relay_configs()"))["state"], "failed");
}

// A backfill reads the table through the owner's function, in the relay's session, where the
// owner's code (here a row security policy, and the function itself, which the owner may rewrite)
// runs as the owner. What it leaves behind that a rollback does not undo must not reach the relay:
// a prepared statement under a name the relay would run, an advisory lock. Runs counted in
// sequences, which no rollback undoes.
TEST(BackfillIsolation, TheOwnersCodeCannotPlantAStatementTheRelayRunsAsItself) {
  TestDb db;
  std::string owner = table_owner_with_schema(db, "a");
  db.exec("SET ROLE " + owner);
  db.exec("CREATE SEQUENCE a.as_relay");
  db.exec("GRANT USAGE ON SEQUENCE a.as_relay TO PUBLIC");
  // Run by whoever executes the planted statement.
  db.exec("CREATE FUNCTION a.caught() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('a.as_relay') "
          "WHERE pg_has_role(current_user, 'pgtrickle_relay', 'MEMBER') AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) $$");
  db.exec("GRANT EXECUTE ON FUNCTION a.caught() TO PUBLIC");
  // Plants, under every name a relay might prepare (a backfill's statements, the lag count, a pooled
  // connection's cached statements, which serve every pipeline), a statement calling it; takes an
  // advisory lock. The planner folds it while estimating the table's rows too ("backfill": "initial").
  db.exec("CREATE FUNCTION a.plant() RETURNS boolean LANGUAGE plpgsql AS $$ DECLARE n text; BEGIN "
          "  FOREACH n IN ARRAY ARRAY['bf_wanted', 'bf_low', 'bf_chunk', 'bf_high', 'ob_lag'] "
          "                         || ARRAY(SELECT 'relay_cached_' || g FROM generate_series(1, 60) AS g) LOOP "
          "    BEGIN EXECUTE format('DEALLOCATE %I', n); EXCEPTION WHEN invalid_sql_statement_name THEN NULL; END; "
          "    EXECUTE format('PREPARE %I AS SELECT a.caught()', n); "
          "  END LOOP; "
          "  PERFORM pg_advisory_lock(7072753140512305998); RETURN true; END $$");
  db.exec("CREATE TABLE a.items (id bigint PRIMARY KEY, note text)");
  db.exec("INSERT INTO a.items SELECT g, 'row ' || g FROM generate_series(1, 5000) AS g");
  db.exec("ALTER TABLE a.items ENABLE ROW LEVEL SECURITY");
  db.exec("ALTER TABLE a.items FORCE ROW LEVEL SECURITY");
  db.exec("CREATE FUNCTION a.plant_when_planned() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN a.plant(); END $$");
  db.exec("CREATE POLICY everything ON a.items USING (a.plant() AND a.plant_when_planned())");
  db.exec("RESET ROLE");
  db.exec("SELECT pgtrickle.enable_outbox('a.items')");
  std::string out = work_dir() + "/backfill-isolation-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "items-out", {{"stream_table", "a.items"}, {"sink_type", "file"}, {"path", out},
                                        {"backfill_chunk_rows", 100}, {"backfill", "initial"}});

  RelayProcess relay(relay_args_for(db.relay_url()));
  // Between chunks (its session idle, out of any transaction) the relay's session holds nothing the
  // owner's code took: each chunk's session is cleared (DISCARD ALL) before the next statement. A
  // session idle, with the same state_change, before and after the lock table was read held the
  // lock while idle.
  const std::string idle = "SELECT coalesce(string_agg(pid || '@' || state_change, ',' ORDER BY pid), '') FROM pg_stat_activity "
                           "WHERE state = 'idle' AND application_name LIKE 'pgtrickle-relay%'";
  const std::string lockers = "SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_locks WHERE locktype = 'advisory' "
                              "AND objid = (7072753140512305998 & 4294967295)::oid AND granted";
  int samples = 0;
  while (backfill_state(db) != "done" && samples < 2000) {
    ++samples;
    const std::string before = db.value(idle), held = db.value(lockers), after = db.value(idle);
    if (held.empty() || before != after) continue;
    for (std::string_view pid : relay::util::split_list(held, ','))
      ASSERT_EQ(("," + before).find("," + std::string(pid) + "@"), std::string::npos)
          << "after a chunk, the lock the owner's code took stays in the relay's idle session " << pid << ": "
          << db.value("SELECT application_name || ' / ' || state || ' / ' || coalesce(query, '') || ' / ' || (SELECT string_agg("
                      "classid || ':' || objid || ':' || objsubid || ':' || mode || ':' || granted, ' ') FROM pg_locks "
                      "WHERE locktype = 'advisory' AND pid = a.pid) FROM pg_stat_activity AS a WHERE pid = " + std::string(pid));
  }
  ASSERT_GT(samples, 1) << "the backfill was looked at while it ran";
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 5000; }, 20s)) << relay.err();
  ASSERT_TRUE(wait_until([&] { return backfill_state(db) == "done"; }, 10s)) << backfill_state(db) << relay.err();
  EXPECT_EQ(db.value("SELECT is_called FROM a.as_relay"), "f") << "a statement the owner's code planted ran as the relay";
  // A read still running, or a session closing, holds it a moment longer: what must not happen is
  // a session keeping it.
  const std::string holders = "SELECT coalesce(string_agg(a.application_name || ' (' || a.state || '): ' || coalesce(a.query, ''), '; '), '') "
                              "FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid "
                              "WHERE l.locktype = 'advisory' AND l.objid = (7072753140512305998 & 4294967295)::oid";
  EXPECT_TRUE(wait_until([&] { return db.value(holders).empty(); }, 5s))
      << "an advisory lock the owner's code took stays in a session of the relay's: " << db.value(holders);
  db.exec("INSERT INTO a.items VALUES (5001, 'after')");
  EXPECT_TRUE(wait_until([&] { return read_lines(out).size() >= 5001; }, 15s)) << "the changes go on\n" << relay.err();
}
