// Forward pipelines end to end: rows committed to an outbox table reach a file, through the
// relay binary, configured in SQL or TOML.
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(Forward, RowsCommittedToAnOutboxArriveInTheFileInOrder) {
  TestDb db;
  std::string out = work_dir() + "/orders-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE orders (id int PRIMARY KEY, customer text, amount numeric)");
  db.exec("SELECT pgtrickle.enable_outbox('orders')");
  db.exec("SELECT pgtrickle.set_relay_outbox('orders-to-file', config => '{\"stream_table\": \"orders\", \"sink_type\": \"file\", \"path\": \"" + out + "\"}'::jsonb)");
  db.exec("SELECT pgtrickle.enable_relay('orders-to-file')");
  db.exec("INSERT INTO orders VALUES (1, 'ann', 10), (2, 'bob', 20)");
  db.exec("UPDATE orders SET amount = 11 WHERE id = 1");
  db.exec("DELETE FROM orders WHERE id = 2");

  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 4; }, 15s)) << relay.err();
  auto msgs = json_lines(out);
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0]["op"], "insert");
  EXPECT_EQ(msgs[0]["payload"]["customer"], "ann");
  EXPECT_EQ(msgs[1]["op"], "insert");
  EXPECT_EQ(msgs[2]["op"], "update");
  EXPECT_EQ(msgs[2]["payload"]["amount"], 11);
  EXPECT_EQ(msgs[2]["before"]["amount"], 10);
  EXPECT_EQ(msgs[2]["key"], "1");
  EXPECT_EQ(msgs[3]["op"], "delete");
  EXPECT_EQ(msgs[3]["payload"]["id"], 2);
  EXPECT_EQ(msgs[0]["stream_table"], "orders");
  std::set<std::string> keys;
  for (auto& m : msgs) keys.insert(m["dedup_key"].get<std::string>());
  EXPECT_EQ(keys.size(), 4u) << "dedup keys are unique";

  // A row committed while the relay waits arrives (how soon is measured in bench/, not here).
  db.exec("INSERT INTO orders VALUES (3, 'cy', 5)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 5; }, 10s));

  // SIGTERM drains and exits 0; the position was stored, so a restart sends nothing again.
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(15s), 0) << relay.err();
  RelayProcess again(relay_args(db));
  db.exec("INSERT INTO orders VALUES (4, 'di', 7)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 6; }, 15s)) << again.err();
  std::this_thread::sleep_for(500ms);
  auto all = json_lines(out);
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[5]["payload"]["id"], 4);
}

TEST(Forward, ConcurrentWritersCommittingOutOfIdOrderLoseNothing) {
  TestDb db;
  std::string out = work_dir() + "/conc-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE events (id bigint PRIMARY KEY, writer int, n int)");
  db.exec("SELECT pgtrickle.enable_outbox('events')");
  // A server whose default is REPEATABLE READ must not change what the relay reads.
  db.exec("ALTER DATABASE " + db.name() + " SET default_transaction_isolation = 'repeatable read'");
  db.exec("SELECT pgtrickle.set_relay_outbox('events-to-file', config => '{\"stream_table\": \"events\", \"sink_type\": \"file\", \"path\": \"" + out + "\", \"batch_size\": 50}'::jsonb)");
  RelayProcess relay(relay_args(db));

  // Each writer holds its transaction open for a while after inserting, so transactions that took
  // lower outbox ids commit after ones with higher ids.
  constexpr int kWriters = 8, kTxPerWriter = 25, kRowsPerTx = 3;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto c = relay::pg::Connection::open(db.url(), "writer");
      ASSERT_TRUE(c);
      for (int t = 0; t < kTxPerWriter; ++t) {
        ASSERT_TRUE(c->exec("BEGIN"));
        for (int r = 0; r < kRowsPerTx; ++r) {
          long long id = (static_cast<long long>(w) * kTxPerWriter + t) * kRowsPerTx + r;
          ASSERT_TRUE(c->exec("INSERT INTO events VALUES (" + std::to_string(id) + ", " + std::to_string(w) + ", " + std::to_string(t) + ")"));
        }
        ASSERT_TRUE(c->exec("SELECT pg_sleep(" + std::to_string(((w * 7 + t * 3) % 5) * 0.004) + ")"));
        ASSERT_TRUE(c->exec("COMMIT"));
      }
    });
  }
  for (auto& t : writers) t.join();
  const size_t total = kWriters * kTxPerWriter * kRowsPerTx;
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= total; }, 60s)) << "got " << read_lines(out).size() << "\n" << relay.err();
  std::this_thread::sleep_for(300ms);
  auto msgs = json_lines(out);
  std::set<long long> ids;
  std::map<int, int> last_tx_of_writer;
  for (auto& m : msgs) {
    ids.insert(m["payload"]["id"].get<long long>());
    // Per writer, transactions arrive in the order they committed.
    int w = m["payload"]["writer"], n = m["payload"]["n"];
    EXPECT_GE(n, last_tx_of_writer[w]) << "writer " << w << " went backwards";
    last_tx_of_writer[w] = n;
  }
  EXPECT_EQ(ids.size(), total) << "every row delivered";
  EXPECT_EQ(msgs.size(), total) << "and only once in a run without failures";
}

// The reader reads a trickle of commits one small read at a time and a backlog as a stream; going
// from one to the other and back, in the middle of transactions, skips and repeats nothing.
TEST(Forward, BacklogsAndTricklesInTurnArriveWholeAndInOrder) {
  TestDb db;
  std::string out = work_dir() + "/turns-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("SELECT pgtrickle.set_relay_outbox('t-file', config => '{\"stream_table\": \"t\", \"sink_type\": \"file\", \"path\": \"" + out + "\", \"batch_size\": 10}'::jsonb)");
  int next = 1;
  // Transactions of 1 to 40 rows, one INSERT statement (one outbox row) per table row.
  auto backlog = [&](int transactions) {
    for (int i = 0; i < transactions; ++i) {
      int rows = 1 + (i * 17) % 40;
      db.exec(fmt::format("DO $$ BEGIN FOR i IN {}..{} LOOP INSERT INTO t VALUES (i); END LOOP; END $$", next, next + rows - 1));
      next += rows;
    }
  };
  auto trickle = [&](int rows) {
    for (int i = 0; i < rows; ++i) {
      db.exec(fmt::format("INSERT INTO t VALUES ({})", next++));
      std::this_thread::sleep_for(5ms);
    }
  };
  backlog(60);
  RelayProcess relay(relay_args(db));
  trickle(30);
  backlog(40);
  trickle(30);
  const size_t total = static_cast<size_t>(next - 1);
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= total; }, 60s)) << "got " << read_lines(out).size() << " of " << total << "\n" << relay.err();
  std::this_thread::sleep_for(300ms);
  auto msgs = json_lines(out);
  ASSERT_EQ(msgs.size(), total) << "every row once";
  for (size_t i = 0; i < msgs.size(); ++i) ASSERT_EQ(msgs[i]["payload"]["id"], static_cast<int>(i + 1)) << "in commit order";
}

// A relay resuming at the end of a transaction reads on through a backlog of small transactions
// without waiting for a notification or the poll interval: a read whose first transaction has no
// rows left is one row short of full, and is not taken for the end of the backlog.
TEST(Forward, ABacklogAfterTheStoredPositionIsReadWithoutWaitingForThePollInterval) {
  TestDb db;
  std::string out = work_dir() + "/resume-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("SELECT pgtrickle.set_relay_outbox('t-file', config => '{\"stream_table\": \"t\", \"sink_type\": \"file\", \"path\": \"" +
          out + "\", \"poll_interval_ms\": 600000}'::jsonb)");
  db.exec("INSERT INTO t VALUES (1)");
  {
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 1 && db.number("SELECT count(*) FROM pgtrickle.relay_offsets") == 1; }, 15s))
        << relay.err();
  }
  // Written while no relay listens: nothing will notify the next one.
  for (int i = 2; i <= 300; ++i) db.exec(fmt::format("INSERT INTO t VALUES ({})", i));
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 300; }, 20s))
      << "got " << read_lines(out).size() << " of 300\n" << relay.err();
  auto msgs = json_lines(out);
  ASSERT_EQ(msgs.size(), 300u);
  for (size_t i = 0; i < msgs.size(); ++i) ASSERT_EQ(msgs[i]["payload"]["id"], static_cast<int>(i + 1)) << "in commit order";
}

// Writers notify only while a relay waits for rows: a waiting relay is woken at once (its poll
// interval here is ten minutes) by single-row writes, larger statements and published events
// alike, and a relay that stops takes its waiting back, so writers stop notifying.
TEST(Forward, AWaitingRelayIsWokenByWritersAndNoOneIsNotifiedOnceItStops) {
  TestDb db;
  std::string out = work_dir() + "/wake-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("SELECT pgtrickle.set_relay_outbox('t-file', config => '{\"stream_table\": \"t\", \"sink_type\": \"file\", \"path\": \"" +
          out + "\", \"poll_interval_ms\": 600000, \"granularity\": \"delta\"}'::jsonb)");
  {
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.outbox_waiters WHERE outbox = 'outbox_t'") == 1; }, 15s))
        << "the relay says it waits\n" << relay.err();
    // Each write comes well after the relay went back to waiting (it looks once more 20 ms after).
    size_t expected = 0;
    auto write = [&](const std::string& sql) {
      std::this_thread::sleep_for(200ms);
      db.exec(sql);
      ++expected;
      return wait_until([&] { return read_lines(out).size() == expected; }, 5s);
    };
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(write(fmt::format("INSERT INTO t VALUES ({})", i))) << "row " << i << "\n" << relay.err();
    ASSERT_TRUE(write("INSERT INTO t SELECT generate_series(6, 8)")) << "one statement, several rows\n" << relay.err();
    ASSERT_TRUE(write("UPDATE t SET id = id + 100 WHERE id = 1")) << relay.err();
    ASSERT_TRUE(write("DELETE FROM t WHERE id = 2")) << relay.err();
    relay.signal(SIGTERM);
    ASSERT_GE(relay.wait(15s), 0) << relay.err();
  }
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.outbox_waiters"), 0) << "a stopped relay no longer waits";
  // A relay killed while waiting cannot say so: the next one to wait clears its row.
  {
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.outbox_waiters") == 1; }, 15s)) << relay.err();
    relay.kill9();
    relay.wait(5s);
  }
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO t VALUES (9)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 7; }, 10s)) << relay.err();
  ASSERT_TRUE(wait_until([&] {
    return db.number("SELECT count(*) FROM pgtrickle.outbox_waiters w WHERE EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = w.pid)") == 1 &&
           db.number("SELECT count(*) FROM pgtrickle.outbox_waiters") == 1;
  }, 10s)) << "only the live relay's row is left";
}

// A transaction that wrote before the relay said it waits, and commits after, notifies no one: the
// relay numbers that outbox once a second until every transaction running when it began to wait
// has ended, so the row comes within seconds (the poll interval is ten minutes, and a waiting
// reader reads on its own only once a minute).
TEST(Forward, ARowWrittenBeforeTheRelayWaitedAndCommittedAfterComesWithoutANotification) {
  TestDb db;
  std::string out = work_dir() + "/late-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("SELECT pgtrickle.set_relay_outbox('t-file', config => '{\"stream_table\": \"t\", \"sink_type\": \"file\", \"path\": \"" +
          out + "\", \"poll_interval_ms\": 600000}'::jsonb)");
  auto writer = relay::pg::Connection::open(db.url(), "writer");
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->exec("BEGIN"));
  ASSERT_TRUE(writer->exec("INSERT INTO t VALUES (1)"));  // no one waits yet: no notification at commit
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.outbox_waiters WHERE outbox = 'outbox_t'") == 1; }, 15s))
      << relay.err();
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(writer->exec("COMMIT"));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 1; }, 15s)) << "the late commit arrives\n" << relay.err();
  // And the relay goes on waiting for the writers' notifications.
  db.exec("INSERT INTO t VALUES (2)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 2; }, 5s)) << relay.err();
  auto msgs = json_lines(out);
  EXPECT_EQ(msgs[0]["payload"]["id"], 1);
  EXPECT_EQ(msgs[1]["payload"]["id"], 2);
}

TEST(Forward, KillNineMidStreamThenRestartLosesNothing) {
  TestDb db;
  std::string out = work_dir() + "/kill-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  // Small batches keep the drain slow enough (one fsync and one stored position per 10 rows) that
  // the kill lands mid-stream even when the test itself is slow to notice the first 3,000 lines.
  db.exec("SELECT pgtrickle.set_relay_outbox('t-file', config => '{\"stream_table\": \"t\", \"sink_type\": \"file\", \"path\": \"" + out + "\", \"batch_size\": 10}'::jsonb)");
  db.exec("DO $$ BEGIN FOR i IN 1..20000 LOOP INSERT INTO t VALUES (i); END LOOP; END $$");
  {
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 3000; }, 30s)) << relay.err();
    relay.kill9();
    relay.wait(5s);
  }
  size_t at_kill = read_lines(out).size();
  ASSERT_LT(at_kill, 20000u) << "killed mid-stream";
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] {
    std::set<int> ids;
    for (auto& l : read_lines(out)) ids.insert(json::parse(l)["payload"]["id"].get<int>());
    return ids.size() == 20000;
  }, 60s)) << relay.err();
  // At-least-once: only the batch in flight at the kill may repeat.
  EXPECT_LE(read_lines(out).size(), 20000u + 10u) << "killed at line " << at_kill;
}

// A relay killed in the middle of a write leaves part of a line behind in its file: the next start
// cuts it off (its messages are sent again) instead of gluing the next line to it.
TEST(Forward, AFileEndingInPartOfALineIsCutBackToItsLastWholeLine) {
  TestDb db;
  std::string out = work_dir() + "/torn-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("INSERT INTO t VALUES (1)");
  db.exec("SELECT pgtrickle.set_relay_outbox('torn', config => '{\"stream_table\": \"t\", \"sink_type\": \"file\", \"path\": \"" + out + "\"}'::jsonb)");
  {
    RelayProcess first(relay_args(db));  // creates the file: the relay's own
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 1; }, 15s)) << first.err();
    first.signal(SIGTERM);  // its position stored: the torn line below stands for the next batch's
    ASSERT_EQ(first.wait(15s), 0) << first.err();
  }
  { std::ofstream(out, std::ios::app) << "{\"dedup_key\":\"outbox_t:2:0\",\"torn\":tr"; }
  db.exec("INSERT INTO t SELECT g FROM generate_series(2, 3) g");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 3; }, 15s)) << relay.err() << read_file(out);
  std::string text = read_file(out);
  EXPECT_EQ(text.find("\"torn\""), std::string::npos) << "the torn line is gone\n" << text;
  ASSERT_EQ(text.back(), '\n');
  auto lines = json_lines(out);
  EXPECT_EQ(lines[0]["payload"]["id"], 1) << "whole lines stay";
  EXPECT_EQ(lines[1]["payload"]["id"], 2);
  EXPECT_EQ(lines[2]["payload"]["id"], 3);
  EXPECT_NE(relay.err().find("cut back to its last whole line"), std::string::npos) << relay.err();
}

TEST(Forward, ClaimCheckDeltasStreamInChunks) {
  TestDb db;
  std::string out = work_dir() + "/cc-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE big (id int PRIMARY KEY, v int)");
  db.exec("SELECT pgtrickle.enable_outbox('big')");
  db.exec("UPDATE pgtrickle.outbox_tables SET inline_threshold_rows = 10 WHERE source_table = 'big'");
  db.exec("INSERT INTO big SELECT g, 0 FROM generate_series(1, 5000) g");
  db.exec("UPDATE big SET v = 1 WHERE id <= 100");
  EXPECT_EQ(db.value("SELECT bool_and(is_claim_check)::text FROM pgtrickle.outbox_big"), "true");
  db.exec("SELECT pgtrickle.set_relay_outbox('big-file', config => '{\"stream_table\": \"big\", \"sink_type\": \"file\", \"path\": \"" + out + "\", \"batch_size\": 333}'::jsonb)");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 5100; }, 30s)) << relay.err();
  auto msgs = json_lines(out);
  ASSERT_EQ(msgs.size(), 5100u);
  int updates = 0;
  for (size_t i = 5000; i < msgs.size(); ++i) {
    if (msgs[i]["op"] == "update") ++updates;
    EXPECT_EQ(msgs[i]["payload"]["v"], 1);
  }
  EXPECT_EQ(updates, 100) << "old and new rows of an update are paired even across chunk boundaries";
}

TEST(Forward, TomlPipelinesOfSeed000ShapeRun) {
  TestDb db;
  std::string out = work_dir() + "/toml-" + db.name() + ".jsonl";
  std::string toml = work_dir() + "/relay-" + db.name() + ".toml";
  db.exec("CREATE TABLE revenue_by_region (region text PRIMARY KEY, revenue numeric)");
  db.exec("SELECT pgtrickle.enable_outbox('revenue_by_region')");
  {
    std::ofstream f(toml);
    f << "[global]\npostgres_url = \"" << db.relay_url() << "\"\nmetrics_bind = \"127.0.0.1:0\"\nha_group = \"relay-primary\"\n\n"
      << "[[pipeline]]\nname = \"revenue-to-file\"\nsource = { type = \"outbox\", stream_table = \"revenue_by_region\" }\n"
      << "sink = { type = \"file\", path = \"" << out << "\" }\ngranularity = \"delta\"\n";
  }
  RelayProcess relay({"--config", toml});
  db.exec("INSERT INTO revenue_by_region VALUES ('europe', 100), ('asia', 50)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 1; }, 15s)) << relay.err();
  auto m = json_lines(out)[0];
  EXPECT_EQ(m["stream_table"], "revenue_by_region");
  EXPECT_EQ(m["delta"]["inserted"].size(), 2u);
  EXPECT_TRUE(m.contains("sequence"));
  EXPECT_TRUE(m.contains("timestamp"));
  EXPECT_EQ(m["metadata"]["delta_rows"], 2);
  // The relay group came from ha_group.
  ASSERT_TRUE(wait_until([&] { return db.value("SELECT relay_group_id FROM pgtrickle.relay_offsets") == "relay-primary"; }, 10s));
  // Retention knows what this pipeline, which is in no catalog, has still to read.
  EXPECT_EQ(db.value("SELECT pgtrickle.outbox_status('revenue_by_region') -> 'pending_by_pipeline' ->> 'revenue-to-file'"), "0");
  relay.signal(SIGTERM);
  ASSERT_EQ(relay.wait(10s), 0) << relay.err();
  db.exec("INSERT INTO revenue_by_region VALUES ('africa', 10)");  // while no relay runs
  // Two days pass: for the rows and for their commits' numbers.
  db.exec("UPDATE pgtrickle.outbox_revenue_by_region SET created_at = now() - interval '2 days'");
  db.exec("UPDATE pgtrickle.outbox_commits SET committed_at = now() - interval '2 days' WHERE outbox = 'outbox_revenue_by_region'");
  EXPECT_EQ(db.number("SELECT pgtrickle.run_outbox_retention()"), 1) << "only the row the pipeline already delivered";
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.outbox_revenue_by_region"), 1);
}

TEST(Forward, TheTomlFileIsReloadedWhenItChanges) {
  TestDb db;
  std::string a = work_dir() + "/reload-a-" + db.name(), b = work_dir() + "/reload-b-" + db.name();
  std::string toml = work_dir() + "/reload-" + db.name() + ".toml";
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  auto write = [&](const std::string& body) {
    std::ofstream f(toml + ".tmp");
    f << "[global]\npostgres_url = \"" << db.relay_url() << "\"\nmetrics_bind = \"127.0.0.1:0\"\n\n" << body;
    f.close();
    std::rename((toml + ".tmp").c_str(), toml.c_str());
  };
  std::string pa = "[[pipeline]]\nname = \"a\"\nsource = { type = \"outbox\", stream_table = \"t\" }\nsink = { type = \"file\", path = \"" + a + "\" }\n";
  std::string pb = "[[pipeline]]\nname = \"b\"\nsource = { type = \"outbox\", stream_table = \"t\" }\nsink = { type = \"file\", path = \"" + b + "\" }\n";
  write(pa);
  RelayProcess relay({"--config", toml});
  db.exec("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(wait_until([&] { return read_lines(a).size() == 1; }, 10s)) << relay.err();
  std::this_thread::sleep_for(1100ms);  // a different modification time
  write(pa + pb);
  ASSERT_TRUE(wait_until([&] { return read_lines(b).size() == 1; }, 10s)) << relay.err();
  // A broken edit is reported and the running pipelines keep going.
  std::this_thread::sleep_for(1100ms);
  write(pa + pb + "[[pipeline]\n");
  ASSERT_TRUE(wait_until([&] { return relay.err().find("keeping the previous pipelines") != std::string::npos; }, 10s)) << relay.err();
  db.exec("INSERT INTO t VALUES (2)");
  ASSERT_TRUE(wait_until([&] { return read_lines(a).size() == 2 && read_lines(b).size() == 2; }, 10s)) << relay.err();
}

// SIGHUP (systemctl reload) re-reads the file at once, even an edit its modification time does not show.
TEST(Forward, SighupReloadsTheTomlFile) {
  TestDb db;
  std::string a = work_dir() + "/hup-a-" + db.name(), b = work_dir() + "/hup-b-" + db.name();
  std::string toml = work_dir() + "/hup-" + db.name() + ".toml";
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  auto pipeline = [&](const std::string& name, const std::string& path) {
    return "[[pipeline]]\nname = \"" + name + "\"\nsource = { type = \"outbox\", stream_table = \"t\" }\nsink = { type = \"file\", path = \"" +
           path + "\" }\n";
  };
  auto write = [&](const std::string& body) {
    std::ofstream f(toml);
    f << "[global]\npostgres_url = \"" << db.relay_url() << "\"\nmetrics_addr = \"127.0.0.1:0\"\n\n" << body;
  };
  write(pipeline("a", a));
  struct stat before {};
  ASSERT_EQ(::stat(toml.c_str(), &before), 0);
  RelayProcess relay({"--config", toml});
  db.exec("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(wait_until([&] { return read_lines(a).size() == 1; }, 10s)) << relay.err();
  write(pipeline("a", a) + pipeline("b", b));
  const timespec same[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, toml.c_str(), same, 0), 0);  // the edit keeps the old modification time
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(read_lines(b).empty()) << "without SIGHUP the unchanged modification time hides the edit";
  relay.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return read_lines(b).size() == 1; }, 10s)) << relay.err();
  EXPECT_NE(relay.err().find("Received SIGHUP; reloading the configuration."), std::string::npos);
  relay.signal(SIGTERM);
  ASSERT_EQ(relay.wait(10s), 0) << relay.err();
}

TEST(Forward, ApplicationEventsFromOutboxPublishAreRelayedWithTheirHeaders) {
  TestDb db;
  std::string out = work_dir() + "/events-" + db.name();
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  db.exec("BEGIN; SELECT pgtrickle.outbox_publish('order_events', '{\"order_id\": 17, \"total\": 99.90}', "
          "'{\"type\": \"OrderPaid\", \"traceparent\": \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}'); COMMIT;");
  // Configured through the environment instead of flags (seed 001's variables); the pipeline is
  // assigned to the relay group the environment names, so only such a relay runs it.
  db.exec("SELECT pgtrickle.set_relay_outbox('events', config => '{\"outbox\": \"order_events\", \"sink_type\": \"file\", "
          "\"path\": \"" + out + "\", \"format\": \"cloudevents\", \"relay_group\": \"env-group\"}'::jsonb)");
  RelayProcess relay({}, {"PGTRICKLE_RELAY_POSTGRES_URL=" + db.relay_url(), "PGTRICKLE_RELAY_METRICS_ADDR=127.0.0.1:0",
                          "PGTRICKLE_RELAY_LOG_FORMAT=json", "PGTRICKLE_RELAY_GROUP_ID=env-group"});
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 1; }, 10s)) << relay.err();
  auto m = json_lines(out)[0];
  EXPECT_EQ(m["specversion"], "1.0");
  EXPECT_EQ(m["type"], "OrderPaid");
  EXPECT_EQ(m["data"]["order_id"], 17);
  EXPECT_NE(read_lines(out)[0].find("\"total\":99.90"), std::string::npos);
  EXPECT_TRUE(wait_until([&] { return db.value("SELECT relay_group_id FROM pgtrickle.relay_offsets") == "env-group"; }, 10s));
  // Logs are JSON lines with stable fields.
  auto first_log = json::parse(relay.err().substr(0, relay.err().find('\n')));
  EXPECT_EQ(first_log["level"], "info");
  EXPECT_TRUE(first_log.contains("ts") && first_log.contains("logger") && first_log.contains("msg"));
}

TEST(Forward, TheFileSinkRotatesBySize) {
  TestDb db;
  std::string out = work_dir() + "/rotate-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE t (id int PRIMARY KEY, pad text)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("SELECT pgtrickle.set_relay_outbox('rot', config => '{\"stream_table\": \"t\", \"sink_type\": \"file\", \"path\": \"" + out +
          "\", \"rotate_bytes\": 20000, \"max_files\": 3, \"batch_size\": 10}'::jsonb)");
  db.exec("DO $$ BEGIN FOR i IN 1..400 LOOP INSERT INTO t VALUES (i, repeat('x', 100)); END LOOP; END $$");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return db.value("SELECT last_id FROM pgtrickle.relay_offsets") == "400"; }, 15s)) << relay.err();
  EXPECT_LE(read_file(out).size(), 20000u) << "the current file stays under rotate_bytes";
  EXPECT_FALSE(read_lines(out + ".3").empty()) << "three rotated files are kept";
  EXPECT_TRUE(read_lines(out + ".4").empty()) << "older ones are removed";
  // The newest rows are in the current file, in order.
  auto last = json_lines(out);
  EXPECT_EQ(last.back()["payload"]["id"], 400);
}

// The lag counts messages, as pgtrickle_relay_messages_delivered_total does: a statement that
// changed 100 rows is 100 messages waiting, not one outbox row.
TEST(Forward, TheLagCountsTheMessagesNotYetDeliveredAndFallsToZeroOnceTheyAre) {
  TestDb db;
  std::string out = work_dir() + "/lag-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE t (id int PRIMARY KEY, v int)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  for (int i = 1; i <= 5; ++i) db.exec("INSERT INTO t VALUES (" + std::to_string(i) + ", 0)");
  // Nothing listens there: every delivery fails and is retried, so the five messages wait.
  db.exec("SELECT pgtrickle.set_relay_outbox('l', config => '{\"stream_table\": \"t\", \"sink_type\": \"webhook\", "
          "\"url\": \"http://127.0.0.1:9/\", \"retry_max\": 0, \"batch_size\": 1}'::jsonb)");
  RelayProcess relay(relay_args(db));
  auto lag = [&] { return metric(relay.admin_port(), "pgtrickle_relay_consumer_lag{pipeline=\"l\"}"); };
  EXPECT_TRUE(wait_until([&] { return lag() == 5; }, 20s)) << lag() << "\n" << relay.err();
  // The status row is written right after the metric.
  EXPECT_TRUE(wait_until([&] { return db.value("SELECT lag_rows FROM pgtrickle.relay_pipeline_status WHERE pipeline = 'l'") == "5"; }, 5s));
  // Rows written while the sink retries and the reader, its batches ready, reads no more count too.
  for (int i = 6; i <= 10; ++i) db.exec("INSERT INTO t VALUES (" + std::to_string(i) + ", 0)");
  EXPECT_TRUE(wait_until([&] { return lag() == 10; }, 20s)) << lag() << "\n" << relay.err();
  // A statement of 100 rows is 100 messages; an update of 100 rows (old and new rows) 100 more.
  db.exec("INSERT INTO t SELECT g, 0 FROM generate_series(11, 110) AS g");
  EXPECT_TRUE(wait_until([&] { return lag() == 110; }, 20s)) << lag() << "\n" << relay.err();
  db.exec("UPDATE t SET v = 1 WHERE id > 10");
  EXPECT_TRUE(wait_until([&] { return lag() == 210; }, 20s)) << lag() << "\n" << relay.err();
  // Pointed at a file instead, the pipeline delivers them, and the lag follows.
  db.exec("SELECT pgtrickle.set_relay_outbox('l', config => '{\"stream_table\": \"t\", \"sink_type\": \"file\", \"path\": \"" + out + "\"}'::jsonb)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 210; }, 20s)) << relay.err();
  EXPECT_TRUE(wait_until([&] { return lag() == 0; }, 20s)) << lag();
  EXPECT_EQ(metric(relay.admin_port(), "pgtrickle_relay_messages_delivered_total{pipeline=\"l\"}"), 210) << "the same unit";
}
