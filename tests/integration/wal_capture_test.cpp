// WAL capture end to end: enable_outbox(table, capture => 'wal') puts no trigger on the table; a
// pipeline reads its changes through its own logical slot and delivers the same messages as trigger
// capture, in commit order, with identities stable across replays, surviving kill -9, and its slot
// dropped with the pipeline. Against the real PostgreSQL (wal_level = logical) and the real relay.
#include <gtest/gtest.h>

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

// The slots this database's pipelines hold.
long long slots(TestDb& db) {
  return db.number("SELECT count(*) FROM pg_replication_slots WHERE database = current_database()");
}

// "outbox_orders:<commit LSN>:<n>" split into its commit LSN and change number.
std::pair<long long, long long> identity(const json& message) {
  static const std::regex shape("outbox_orders:([0-9]+):([0-9]+)");
  std::smatch m;
  std::string key = message["dedup_key"];
  EXPECT_TRUE(std::regex_match(key, m, shape)) << key;
  return {std::stoll(m[1]), std::stoll(m[2])};
}

// A table "orders" with `columns`, captured from the WAL, and a pipeline "orders-out" writing its
// changes to a file of the test's own (named after `label`), whose path is returned.
std::string wal_orders_to_file(TestDb& db, const std::string& columns, const std::string& label, json extra = json::object()) {
  db.exec("CREATE TABLE orders (" + columns + ")");
  db.exec("SELECT pgtrickle.enable_outbox('orders', capture => 'wal')");
  std::string out = work_dir() + "/" + label + "-" + db.name() + ".jsonl";
  json config = {{"stream_table", "orders"}, {"sink_type", "file"}, {"path", out}};
  config.update(extra);
  set_outbox_pipeline(db, "orders-out", config);
  return out;
}

}  // namespace

TEST(WalCapture, ChangesArriveAsTriggerCaptureWouldSendThemInCommitOrderWithNoTriggerOnTheTable) {
  TestDb db;
  std::string url = replication_login_url(db);
  std::string out = wal_orders_to_file(db, "id int PRIMARY KEY, note text, amount numeric(10,2), tags text[], doc jsonb", "wal");
  EXPECT_EQ(db.value("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'orders'::regclass"), "0") << "no trigger: writers pay nothing";

  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();

  db.exec("BEGIN; INSERT INTO orders VALUES (1, 'one', 1.50, '{a,b}', '{\"x\": [1, 2]}'), (2, 'two', 2, NULL, NULL); COMMIT");
  db.exec("UPDATE orders SET note = 'TWO' WHERE id = 2");
  db.exec("DELETE FROM orders WHERE id = 1");
  db.exec("TRUNCATE orders");
  db.exec("INSERT INTO orders VALUES (3, 'three', 3, '{}', 'null')");

  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 6; }, 15s)) << relay.err();
  std::this_thread::sleep_for(300ms);
  auto lines = json_lines(out);
  ASSERT_EQ(lines.size(), 6u);
  std::vector<std::string> ops;
  for (const auto& m : lines) ops.push_back(m["op"]);
  EXPECT_EQ(ops, (std::vector<std::string>{"insert", "insert", "update", "delete", "truncate", "insert"}));
  // Rows exactly as to_jsonb renders them (as the trigger would have written them).
  EXPECT_EQ(lines[0]["payload"], json::parse(R"({"id":1,"note":"one","amount":1.50,"tags":["a","b"],"doc":{"x":[1,2]}})"));
  EXPECT_EQ(lines[1]["payload"], json::parse(R"({"id":2,"note":"two","amount":2.00,"tags":null,"doc":null})"));
  EXPECT_EQ(lines[2]["payload"]["note"], "TWO");
  EXPECT_EQ(lines[2]["before"], json::parse(R"({"id":2})")) << "the default replica identity carries the key only";
  EXPECT_EQ(lines[3]["payload"], json::parse(R"({"id":1})"));
  EXPECT_EQ(lines[4]["is_full_refresh"], true);
  EXPECT_EQ(lines[5]["key"], "3");
  // One identity per change: the commit's LSN and the change's place in its transaction.
  auto [lsn0, n0] = identity(lines[0]);
  auto [lsn1, n1] = identity(lines[1]);
  EXPECT_EQ(lsn0, lsn1) << "one transaction, one commit LSN";
  EXPECT_EQ(n0, 1);
  EXPECT_EQ(n1, 2);
  long long previous = lsn1;
  for (size_t i = 2; i < lines.size(); ++i) {
    auto [lsn, n] = identity(lines[i]);
    EXPECT_GT(lsn, previous) << "commit order";
    EXPECT_EQ(n, 1);
    previous = lsn;
  }

  // REPLICA IDENTITY FULL: the whole before-image.
  db.exec("ALTER TABLE orders REPLICA IDENTITY FULL");
  db.exec("UPDATE orders SET amount = 4 WHERE id = 3");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 7; }, 15s)) << relay.err();
  auto full = json_lines(out).back();
  EXPECT_EQ(full["op"], "update");
  EXPECT_EQ(full["before"], json::parse(R"({"id":3,"note":"three","amount":3.00,"tags":[],"doc":null})"));

  // A column added mid-stream is followed.
  db.exec("ALTER TABLE orders ADD COLUMN region text DEFAULT 'eu'");
  db.exec("INSERT INTO orders (id, note, region) VALUES (4, 'four', 'us')");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 8; }, 15s)) << relay.err();
  EXPECT_EQ(json_lines(out).back()["payload"]["region"], "us");

  // The slot's confirmed position follows what was delivered; /metrics and /health show the slot.
  // Other databases of the server may write WAL meanwhile: a caught-up slot lags by no more than
  // what the server wrote after the last delivered change.
  std::string delivered = db.value("SELECT pg_current_wal_lsn()");
  ASSERT_TRUE(wait_until([&] {
    return db.value("SELECT confirmed_flush_lsn >= '" + delivered + "' FROM pg_replication_slots WHERE database = current_database()") == "t";
  }, 15s)) << "the slot is confirmed past the delivered changes";
  int port = relay.admin_port();
  ASSERT_TRUE(wait_until([&] {
    double lag = metric(port, "pgtrickle_relay_slot_lag_bytes{pipeline=\"orders-out\"}");
    return lag >= 0 && lag <= db.number("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '" + delivered + "')");
  }, 15s)) << "a caught-up slot lags by no more than the WAL written since";
  EXPECT_GE(metric(port, "pgtrickle_relay_slot_retained_wal_bytes{pipeline=\"orders-out\"}"), 0);
  int status = 0;
  auto health = json::parse(http_get(port, "/health", status));
  EXPECT_TRUE(health["pipelines"][0].contains("slot_lag_bytes")) << health.dump();
}

TEST(WalCapture, AKillMidTransactionRepeatsAtMostTheBatchInFlightAndSkipsNothing) {
  TestDb db;
  std::string url = replication_login_url(db);
  std::string out = wal_orders_to_file(db, "id int PRIMARY KEY, note text", "wal-kill", {{"batch_size", 200}});
  constexpr int kBig = 30000;
  {
    RelayProcess relay(relay_args_for(url));
    ASSERT_TRUE(slot_streams_soon(db))
        << relay.err();
    // One large transaction, then small ones behind it.
    db.exec("INSERT INTO orders SELECT g, 'row ' || g FROM generate_series(1, " + std::to_string(kBig) + ") g");
    for (int i = 1; i <= 20; ++i) db.exec("UPDATE orders SET note = 'again " + std::to_string(i) + "' WHERE id = " + std::to_string(i));
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 5000; }, 30s)) << relay.err();
    relay.kill9();  // mid-transaction
    relay.wait(5s);
  }
  size_t before_restart = read_lines(out).size();
  ASSERT_LT(before_restart, static_cast<size_t>(kBig)) << "the kill came inside the large transaction";
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= static_cast<size_t>(kBig + 20); }, 60s)) << relay.err();
  std::this_thread::sleep_for(500ms);

  // Every change arrived; a repeat carries the identity it had (at most the batch in flight).
  auto lines = json_lines(out);
  size_t repeats = 0;
  auto first = by_identity(lines, repeats);
  std::set<int> inserted;
  for (const auto& m : lines)
    if (m["op"] == "insert") inserted.insert(m["payload"]["id"].get<int>());
  EXPECT_EQ(inserted.size(), static_cast<size_t>(kBig));
  EXPECT_EQ(first.size(), static_cast<size_t>(kBig + 20));
  EXPECT_LE(repeats, 2u * 200) << "at most the batches in flight are sent again";
  // The last twenty are the updates, in commit order.
  for (int i = 1; i <= 20; ++i) EXPECT_EQ(lines[lines.size() - 21 + i]["payload"]["note"], "again " + std::to_string(i));
}

TEST(WalCapture, DeleteRelayDropsTheSlotAndAnIdleSlotFollowsTheServersWal) {
  TestDb db;
  std::string url = replication_login_url(db);
  db.exec("CREATE TABLE orders (id int PRIMARY KEY)");
  db.exec("CREATE TABLE busy (id int, pad text)");
  db.exec("SELECT pgtrickle.enable_outbox('orders', capture => 'wal')");
  std::string out = work_dir() + "/wal-idle-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "orders-out", {{"stream_table", "orders"}, {"sink_type", "file"}, {"path", out}});
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(slot_streams_soon(db))
      << relay.err();

  // Other tables write; the captured one is idle: its slot must not hold their WAL.
  db.exec("INSERT INTO busy SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g");
  std::string written = db.value("SELECT pg_current_wal_lsn()");
  ASSERT_TRUE(wait_until([&] {
    return db.value("SELECT confirmed_flush_lsn >= '" + written + "' FROM pg_replication_slots WHERE database = current_database()") == "t";
  }, 20s)) << "the idle slot's confirmed position follows the server's WAL";

  db.exec("SELECT pgtrickle.delete_relay('orders-out')");
  EXPECT_TRUE(wait_until([&] { return slots(db) == 0; }, 15s)) << "delete_relay drops the pipeline's slot";
}

TEST(WalCapture, DisableOutboxDropsItsSlotsAndItsPublication) {
  TestDb db;
  std::string url = replication_login_url(db);
  std::string out = wal_orders_to_file(db, "id int PRIMARY KEY", "wal-disable");
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(wait_until([&] { return slots(db) == 1; }, 15s)) << relay.err();
  db.exec("SELECT pgtrickle.disable_outbox('orders')");
  // The relay, its reader ended, starts the pipeline again at once: a slot it makes meanwhile is
  // dropped too, never left behind.
  EXPECT_TRUE(wait_until([&] { return slots(db) == 0; }, 10s));
  std::this_thread::sleep_for(2s);
  // One being made now (its creation waits for the server's running transactions) is dropped
  // once made.
  EXPECT_TRUE(wait_until([&] { return slots(db) == 0; }, 15s)) << relay.err();
  EXPECT_EQ(db.value("SELECT count(*) FROM pg_publication WHERE pubname = 'pgtrickle_orders'"), "0");
}

TEST(WalCapture, ALoginWithoutTheReplicationAttributeIsToldWhatToDo) {
  TestDb db;
  db.exec("DO $$ BEGIN CREATE ROLE wal_no_replication LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$");
  db.exec("GRANT pgtrickle_relay TO wal_no_replication");
  db.exec("ALTER ROLE wal_no_replication NOREPLICATION");
  db.exec("CREATE TABLE orders (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('orders', capture => 'wal')");
  set_outbox_pipeline(db, "orders-out", {{"stream_table", "orders"}, {"sink_type", "file"}, {"path", work_dir() + "/never.jsonl"}});
  std::string url = db.url();
  url.replace(url.find("://") + 3, url.find('@') - url.find("://") - 3, "wal_no_replication");
  // validate says so before the relay runs...
  std::string output;
  EXPECT_EQ(run_command(shell_quote(relay_binary()) + " validate --postgres-url '" + url + "'", output), 1) << output;
  EXPECT_NE(output.find("pipeline \"orders-out\": public.orders is captured from the WAL, but this login has no REPLICATION "
                        "attribute"), std::string::npos) << output;
  // ... and the pipeline's start.
  RelayProcess relay(relay_args_for(url));
  std::string error = wait_for_pipeline_error(relay, "orders-out");
  EXPECT_NE(error.find("ALTER ROLE <login> REPLICATION"), std::string::npos) << error;
  EXPECT_EQ(slots(db), 0);
}

TEST(WalCapture, SwitchingAnEnabledTableToAnotherCaptureModeIsRefusedWithTheWayToDoIt) {
  TestDb db;
  db.exec("CREATE TABLE orders (id int PRIMARY KEY)");
  db.exec("CREATE TABLE keyless (v text)");
  db.exec("SELECT pgtrickle.enable_outbox('orders')");
  std::string error = db.error_of("SELECT pgtrickle.enable_outbox('orders', capture => 'wal')");
  EXPECT_NE(error.find("captured with capture => 'trigger', not 'wal'"), std::string::npos) << error;
  error = db.error_of("SELECT pgtrickle.enable_outbox('orders', capture => 'log')");
  EXPECT_NE(error.find("capture must be 'trigger' or 'wal'"), std::string::npos) << error;
  error = db.error_of("SELECT pgtrickle.enable_outbox('keyless', capture => 'wal')");
  EXPECT_NE(error.find("primary key"), std::string::npos) << error;
}

TEST(WalCapture, AKillAfterTheSinkAcceptedBeforeThePositionWasStoredRepeatsTheSameMessages) {
  TestDb db;
  std::string url = replication_login_url(db);
  std::string out = wal_orders_to_file(db, "id int PRIMARY KEY, note text", "wal-crash");
  {
    RelayProcess relay(relay_args_for(url), {"PGTRICKLE_RELAY_CRASH_AT=after_delivery"});
    ASSERT_TRUE(slot_streams_soon(db)) << relay.err();
    db.exec("INSERT INTO orders VALUES (1, 'one'), (2, 'two')");
    EXPECT_EQ(relay.wait(15s), 128 + 9) << "killed after the file took the batch, before its position was stored";
  }
  ASSERT_EQ(read_lines(out).size(), 2u);
  db.exec("INSERT INTO orders VALUES (3, 'three')");
  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 5; }, 15s)) << relay.err();
  std::this_thread::sleep_for(300ms);
  auto lines = json_lines(out);
  ASSERT_EQ(lines.size(), 5u) << "the batch in flight once more, then the next transaction";
  EXPECT_EQ(lines[2], lines[0]) << "a replayed message is the same message, identity included";
  EXPECT_EQ(lines[3], lines[1]);
  EXPECT_EQ(lines[4]["payload"]["id"], 3);
}

TEST(WalCapture, AStandbyTakesOverFromTheSlotsConfirmedPosition) {
  TestDb db;
  std::string url = replication_login_url(db);
  std::string out = wal_orders_to_file(db, "id int PRIMARY KEY", "wal-takeover");
  auto owner = std::make_unique<RelayProcess>(relay_args_for(url));
  ASSERT_TRUE(slot_streams_soon(db)) << owner->err();
  RelayProcess standby(relay_args_for(url));
  ASSERT_TRUE(wait_until([&] { return metric(standby.admin_port(), "pgtrickle_relay_pipeline_owned{pipeline=\"orders-out\"}") == 0; }, 15s));
  db.exec("INSERT INTO orders SELECT g FROM generate_series(1, 500) g");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 500; }, 15s)) << owner->err();
  owner->kill9();
  owner->wait(5s);
  owner.reset();
  // Written while no relay reads the slot: the slot keeps it for the next owner.
  for (int i = 501; i <= 600; ++i) db.exec("INSERT INTO orders VALUES (" + std::to_string(i) + ")");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 600; }, 20s)) << standby.err();
  std::this_thread::sleep_for(300ms);
  std::set<int> ids;
  for (const auto& m : json_lines(out)) ids.insert(m["payload"]["id"].get<int>());
  EXPECT_EQ(ids.size(), 600u);
  EXPECT_EQ(slots(db), 1) << "the standby reads the same slot";
  EXPECT_EQ(metric(standby.admin_port(), "pgtrickle_relay_pipeline_owned{pipeline=\"orders-out\"}"), 1);
}

// slot_name names the pipeline's slot: created, read and dropped under that name. A name the relay
// could take from another system is refused when the pipeline is set, and an existing slot that was
// not created for the pipeline is never read, nor dropped.
TEST(WalCapture, ASlotNamedInTheConfigIsTheOnlyOneTheRelayCreatesReadsAndDrops) {
  TestDb db;
  std::string url = replication_login_url(db);
  const std::string slot = "pgtrickle_orders_" + db.name();
  std::string out = wal_orders_to_file(db, "id int PRIMARY KEY", "wal-named", {{"slot_name", slot}});

  std::string refused = db.error_of("SELECT pgtrickle.set_relay_outbox('other-out', config => '{\"stream_table\": \"orders\", "
                                    "\"sink_type\": \"stdout\", \"slot_name\": \"debezium\"}'::jsonb)");
  EXPECT_NE(refused.find("\"debezium\" is not a slot name the relay may create and drop: it must start with \"pgtrickle_\""),
            std::string::npos) << refused;

  // Another consumer's slot, named as the relay could name one: the pipeline using it stops with
  // the way out, and the slot keeps its position.
  const std::string foreign = "pgtrickle_foreign_" + db.name();
  db.exec("SELECT pg_create_logical_replication_slot('" + foreign + "', 'pgoutput')");
  std::string foreign_at = db.value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + foreign + "'");
  set_outbox_pipeline(db, "taker-out", {{"stream_table", "orders"}, {"sink_type", "stdout"}, {"slot_name", foreign}});

  RelayProcess relay(relay_args_for(url));
  std::string error = wait_for_pipeline_error(relay, "taker-out");
  EXPECT_NE(error.find("exists but was not created for this pipeline, so it is not read"), std::string::npos) << error;
  EXPECT_NE(error.find("name another slot_name, or drop it"), std::string::npos) << error;
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();
  EXPECT_EQ(db.value("SELECT string_agg(s.slot_name, ',') FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
                     "WHERE s.database = current_database()"), slot) << "the named slot is the one read";
  db.exec("INSERT INTO orders VALUES (1), (2)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 2; }, 15s)) << relay.err();

  db.exec("SELECT pgtrickle.delete_relay('orders-out')");
  EXPECT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "'") == 0; }, 15s))
      << "delete_relay drops the named slot";
  db.exec("SELECT pgtrickle.delete_relay('taker-out')");
  EXPECT_EQ(db.value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + foreign + "'"), foreign_at)
      << "the other consumer's slot is neither read nor dropped";
  db.exec("SELECT pg_drop_replication_slot('" + foreign + "')");
}

// The owner of a table captured from the WAL controls code its rows are rendered through: a
// domain's check, a row security policy. That code runs as the owner, never with the relay's
// rights (its role reads every pipeline's raw config), and its settings stay out of the relay's
// session. Counted in sequences, which no rollback undoes.
TEST(WalCapture, TheOwnersCodeInTheTablesTypesAndPoliciesRunsAsTheOwnerNeverAsTheRelay) {
  TestDb db;
  std::string url = replication_login_url(db);
  std::string owner = table_owner_with_schema(db, "a");
  db.exec("SET ROLE " + owner);
  db.exec("CREATE SEQUENCE a.as_owner");
  db.exec("CREATE SEQUENCE a.as_relay");
  db.exec("GRANT USAGE ON SEQUENCE a.as_owner, a.as_relay TO PUBLIC");
  // Counts runs as the owner and as a relay's login (the test's own writes, as a superuser, count as
  // neither; nor, in managed mode, as the installer, which from PostgreSQL 16 on is a member of the
  // roles it created with ADMIN OPTION only: a relay's login holds pgtrickle_relay's rights).
  db.exec("CREATE FUNCTION a.spy(v text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN "
          "  IF current_user = '" + owner + "' THEN PERFORM nextval('a.as_owner'); "
          "  ELSIF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
          "        AND pg_has_role(current_user, 'pgtrickle_relay', 'USAGE') THEN PERFORM nextval('a.as_relay'); END IF; "
          "  PERFORM set_config('search_path', 'a, pg_catalog', false); RETURN true; END $$");
  db.exec("CREATE DOMAIN a.watched AS text CHECK (a.spy(VALUE))");
  db.exec("CREATE TABLE a.orders (id int PRIMARY KEY, note a.watched, big text)");
  db.exec("ALTER TABLE a.orders ALTER COLUMN big SET STORAGE EXTERNAL");
  db.exec("ALTER TABLE a.orders ENABLE ROW LEVEL SECURITY");
  db.exec("ALTER TABLE a.orders FORCE ROW LEVEL SECURITY");
  db.exec("CREATE POLICY everything ON a.orders USING (a.spy(note))");
  db.exec("RESET ROLE");
  db.exec("SELECT pgtrickle.enable_outbox('a.orders', capture => 'wal')");
  std::string out = work_dir() + "/owner-code-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "orders-out", {{"stream_table", "a.orders"}, {"sink_type", "file"}, {"path", out}});

  RelayProcess relay(relay_args_for(url));
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();
  db.exec("INSERT INTO a.orders VALUES (1, 'one', repeat('x', 10000)), (2, 'two', 'small')");
  db.exec("UPDATE a.orders SET note = 'ONE' WHERE id = 1");  // the unchanged TOASTed value is read from the table
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 3; }, 15s)) << relay.err();
  auto lines = json_lines(out);
  EXPECT_EQ(lines[2]["payload"]["note"], "ONE");
  EXPECT_EQ(lines[2]["payload"]["big"].get<std::string>().size(), 10000u) << "read from the table, as its owner";
  EXPECT_EQ(db.value("SELECT is_called FROM a.as_relay"), "f") << "the owner's code never ran as the relay's role";
  EXPECT_EQ(db.value("SELECT is_called FROM a.as_owner"), "t") << "it ran as the owner";

  // The relay's session kept its search path: later rows render alike.
  db.exec("INSERT INTO a.orders VALUES (3, 'three', NULL)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 4; }, 15s)) << relay.err();
  EXPECT_EQ(json_lines(out)[3]["payload"]["note"], "three");
  EXPECT_EQ(db.value("SELECT is_called FROM a.as_relay"), "f");
  EXPECT_EQ(db.value("SELECT has_table_privilege('pgtrickle_relay', 'a.orders', 'SELECT')"), "f")
      << "the relay's role needs no right on the table";
}
