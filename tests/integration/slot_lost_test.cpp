// A replication slot the server invalidates (max_slot_wal_keep_size) on a real PostgreSQL of the
// test's own, capped at 16 MB: the relay says so steadily, rebuilds it only when asked (once, or by
// the pipeline's "on_slot_lost"), and then sends a gap marker before a backfill of every row.
#include <signal.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "fixture.h"
#include "pg/catalog.h"
#include "webhook/receiver.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string value(relay::pg::Connection& c, const std::string& sql) {
  auto r = c.exec(sql);
  if (!r) throw std::runtime_error(sql + ": " + r.error().message);
  return r->rows() > 0 && !r->null(0, 0) ? r->str(0, 0) : "";
}

// The relay's slot is made and its walsender streams: a row written now is in what it reads (one
// written while the slot is still being made may be before its starting point).
bool slot_streams(relay::pg::Connection& c) {
  return value(c, "SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
                  "WHERE r.state IS DISTINCT FROM 'startup'") == "1";
}

// A database on `server` whose slots the server invalidates past 16 MB of WAL, with the relay's
// SQL, `tables` made, a table `filler` to write WAL with, and the pipeline `name` with `config`;
// the relay's login may replicate. Returns that login.
std::string set_up(OwnServer& server, const std::string& db, const std::string& tables, const std::string& name, const json& config) {
  server.fresh_database(db);
  auto c = connect_to(server.url(db), "slot-lost-test");
  EXPECT_TRUE(c.exec("ALTER SYSTEM SET max_slot_wal_keep_size = '16MB'"));
  EXPECT_TRUE(c.exec("SELECT pg_reload_conf()"));
  EXPECT_TRUE(relay::pg::install_schema(c));
  std::string login = relay_login_url(server.url(db));
  EXPECT_TRUE(c.exec("ALTER ROLE " + login.substr(login.find("://") + 3, login.find('@') - login.find("://") - 3) + " REPLICATION"));
  EXPECT_TRUE(c.exec(tables));
  EXPECT_TRUE(c.exec("CREATE TABLE filler (id bigint, pad text)"));
  EXPECT_TRUE(c.exec("SELECT pgtrickle.set_relay_outbox('" + name + "', config => '" + config.dump() + "'::jsonb)"));
  return login;
}

// A table `items` captured from the WAL, read by the pipeline `items-out` with `config`.
std::string set_up(OwnServer& server, const std::string& db, const json& config) {
  return set_up(server, db, "CREATE TABLE items (id int PRIMARY KEY, v text); SELECT pgtrickle.enable_outbox('items', capture => 'wal')",
                "items-out", config);
}

// Writes WAL past the cap until the server invalidates the slot (at a checkpoint).
void invalidate_slot(relay::pg::Connection& c) {
  for (int round = 0; round < 8; ++round) {
    ASSERT_TRUE(c.exec("INSERT INTO filler SELECT g, repeat('x', 1000) FROM generate_series(1, 20000) g"));
    ASSERT_TRUE(c.exec("SELECT pg_switch_wal()"));
    ASSERT_TRUE(c.exec("CHECKPOINT"));
    if (value(c, "SELECT string_agg(wal_status, ',') FROM pg_replication_slots") == "lost") return;
  }
  FAIL() << "the server did not invalidate the slot";
}

json pipeline_health(int port) {
  int status = 0;
  auto h = json::parse(http_get(port, "/health", status), nullptr, false);
  if (h.is_discarded() || h["pipelines"].empty()) return json::object();
  json p = h["pipelines"][0];
  p["http_status"] = status;
  return p;
}

// The messages' positions in `lines` (of table `table`, or of any): the gap marker's, and each
// backfilled row's by id.
struct AfterRebuild {
  long gap = -1;
  json gap_marker;
  std::map<int, std::pair<long, json>> read;  // id -> (line, row)
};
AfterRebuild after_rebuild(const std::vector<json>& lines, const std::string& table = "") {
  AfterRebuild a;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& m = lines[i];
    if (!table.empty() && m.value("stream_table", "") != table) continue;
    if (m.value("op", "") == "gap" && a.gap < 0) {
      a.gap = static_cast<long>(i);
      a.gap_marker = m;
    }
    if (m.value("op", "") == "read") a.read[m["payload"]["id"].get<int>()] = {static_cast<long>(i), m["payload"]};
  }
  return a;
}

}  // namespace

// The relay was down while the server invalidated the slot: the pipeline is failed and stays so,
// naming the slot and the ways out, with one log line; rebuild_relay_slot() heals it once: a gap
// marker, then every row as it is now, then the changes go on.
TEST(SlotLost, RelayDownFailsSteadilyThenRebuildsOnRequest) {
  OwnServer server(2);
  std::string out = work_dir() + "/slot-lost.jsonl";
  std::string login = set_up(server, "slot_lost", {{"stream_table", "items"}, {"sink_type", "file"}, {"path", out}});
  auto c = connect_to(server.url("slot_lost"), "slot-lost-test");
  std::vector<std::string> args{"--postgres-url", login, "--metrics-addr", "127.0.0.1:0"};
  {
    RelayProcess relay(args);
    relay.admin_port();
    ASSERT_TRUE(wait_until([&] { return slot_streams(c); }, 20s)) << relay.err();
    ASSERT_TRUE(c.exec("INSERT INTO items SELECT g, 'a' FROM generate_series(1, 3) g"));
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 3; }, 20s)) << relay.err();
    relay.signal(SIGTERM);
    ASSERT_EQ(relay.wait(20s), 0);
  }
  // Changes the slot held when the server removed its WAL.
  ASSERT_TRUE(c.exec("UPDATE items SET v = 'changed in the gap' WHERE id = 1"));
  ASSERT_TRUE(c.exec("DELETE FROM items WHERE id = 2"));
  ASSERT_TRUE(c.exec("INSERT INTO items VALUES (100, 'inserted in the gap')"));
  invalidate_slot(c);
  const std::string slot = value(c, "SELECT slot_name FROM pg_replication_slots");

  RelayProcess relay(args);
  int port = relay.admin_port();
  ASSERT_TRUE(wait_until([&] { return pipeline_health(port).value("state", "") == "failed"; }, 20s)) << relay.err();
  std::string error = pipeline_health(port).value("last_error", "");
  EXPECT_NE(error.find("invalidated the replication slot \"" + slot + "\""), std::string::npos) << error;
  EXPECT_NE(error.find("max_slot_wal_keep_size"), std::string::npos) << error;
  EXPECT_NE(error.find("pgtrickle.rebuild_relay_slot('items-out')"), std::string::npos) << error;
  EXPECT_NE(error.find("\"on_slot_lost\": \"rebuild\""), std::string::npos) << error;
  // Steady: failed at every look for 12 s (the relay looks again every 10 s), /health 503, one log line.
  for (int i = 0; i < 24; ++i) {
    json p = pipeline_health(port);
    EXPECT_EQ(p.value("state", ""), "failed") << p.dump();
    EXPECT_EQ(p.value("http_status", 0), 503);
    std::this_thread::sleep_for(500ms);
  }
  size_t said = 0;
  for (size_t at = relay.err().find("The pipeline cannot run"); at != std::string::npos; at = relay.err().find("The pipeline cannot run", at + 1))
    ++said;
  EXPECT_EQ(said, 1u) << relay.err();
  EXPECT_EQ(read_lines(out).size(), 3u) << "nothing is sent while the slot is lost";

  EXPECT_EQ(value(c, "SELECT pgtrickle.rebuild_relay_slot('items-out')"), slot);
  ASSERT_TRUE(wait_until([&] {
    auto a = after_rebuild(json_lines(out));
    return a.read.size() == 3;  // rows 1, 3 and 100: what the table holds now
  }, 40s)) << relay.err();
  auto a = after_rebuild(json_lines(out));
  ASSERT_GE(a.gap, 0) << "a gap marker";
  for (const auto& [id, r] : a.read) EXPECT_LT(a.gap, r.first) << "the marker comes before the backfilled row " << id;
  EXPECT_EQ(a.read[1].second["v"], "changed in the gap");
  EXPECT_EQ(a.read[100].second["v"], "inserted in the gap");
  EXPECT_EQ(a.read.count(2), 0u) << "a row deleted in the gap is not sent";
  EXPECT_EQ(a.gap_marker["gap"]["slot"], slot);
  EXPECT_FALSE(a.gap_marker["gap"].value("from_lsn", "").empty());
  EXPECT_FALSE(a.gap_marker["gap"].value("to_lsn", "").empty());
  EXPECT_NE(a.gap_marker["gap"].value("unknown", "").find("deleted"), std::string::npos);
  ASSERT_TRUE(wait_until([&] { return pipeline_health(port).value("state", "") == "running"; }, 10s));
  EXPECT_EQ(pipeline_health(port).value("slot_wal_status", ""), "reserved");
  EXPECT_EQ(metric(port, "pgtrickle_relay_slot_rebuilds_total{pipeline=\"items-out\"}"), 1);
  // Recorded once the sink took the marker, which may be just after it was written.
  EXPECT_TRUE(wait_until([&] {
    return value(c, "SELECT slot_gap ->> 'slot' FROM pgtrickle.relay_pipeline_status WHERE pipeline = 'items-out'") == slot &&
           value(c, "SELECT gap_state FROM pgtrickle.relay_slots") == "announced";
  }, 10s)) << value(c, "SELECT gap_state FROM pgtrickle.relay_slots");

  // The changes go on through the new slot; the new slot is not rebuilt again on request.
  ASSERT_TRUE(c.exec("INSERT INTO items VALUES (200, 'after')"));
  ASSERT_TRUE(wait_until([&] {
    for (const auto& m : json_lines(out))
      if (m.value("op", "") == "insert" && m["payload"]["id"] == 200) return true;
    return false;
  }, 20s)) << relay.err();
  auto refused = c.exec("SELECT pgtrickle.rebuild_relay_slot('items-out')");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("is not invalidated"), std::string::npos) << refused.error().message;
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(20s), 0);
}

// The sink stalls, the slot keeps the WAL: /health says the slot is past its cap before the server
// invalidates it; with "on_slot_lost": "rebuild" the relay then heals by itself once the sink is
// back: what it had read is delivered, then the gap marker, then every row as it is now.
TEST(SlotLost, InvalidatedBehindAStalledSinkIsRebuiltBySetting) {
  OwnServer server(3);
  Receiver receiver;
  receiver.fail_next(1000000, 503);
  std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/items";
  std::string login = set_up(server, "slot_stall", {{"stream_table", "items"}, {"sink_type", "webhook"}, {"url", url},
                                                    {"on_slot_lost", "rebuild"}, {"retry_max_ms", 500}});
  auto c = connect_to(server.url("slot_stall"), "slot-lost-test");
  RelayProcess relay({"--postgres-url", login, "--metrics-addr", "127.0.0.1:0"});
  int port = relay.admin_port();
  ASSERT_TRUE(wait_until([&] { return slot_streams(c); }, 20s)) << relay.err();
  ASSERT_TRUE(c.exec("INSERT INTO items SELECT g, 'a' FROM generate_series(1, 3) g"));
  ASSERT_TRUE(wait_until([&] { return !receiver.all().empty(); }, 20s)) << relay.err();

  // Past the cap, before a checkpoint: the slot is unreserved, and /health and /metrics say so.
  ASSERT_TRUE(c.exec("INSERT INTO filler SELECT g, repeat('x', 1000) FROM generate_series(1, 40000) g"));
  ASSERT_TRUE(wait_until([&] { return pipeline_health(port).value("slot_wal_status", "") == "unreserved"; }, 20s))
      << pipeline_health(port).dump();
  EXPECT_EQ(metric(port, "pgtrickle_relay_slot_wal_status{pipeline=\"items-out\",status=\"unreserved\"}"), 1);
  EXPECT_EQ(pipeline_health(port).value("http_status", 0), 503);

  ASSERT_TRUE(c.exec("UPDATE items SET v = 'changed' WHERE id = 1"));
  ASSERT_TRUE(c.exec("INSERT INTO items VALUES (100, 'new')"));
  invalidate_slot(c);
  receiver.fail_next(0, 200);

  auto bodies = [&] {
    std::vector<json> out;
    for (const auto& r : receiver.accepted("/items")) out.push_back(json::parse(r.body, nullptr, false));
    return out;
  };
  ASSERT_TRUE(wait_until([&] { return after_rebuild(bodies()).read.size() == 4; }, 60s)) << relay.err();
  auto a = after_rebuild(bodies());
  ASSERT_GE(a.gap, 0);
  for (const auto& [id, r] : a.read) EXPECT_LT(a.gap, r.first) << "the marker comes before the backfilled row " << id;
  EXPECT_EQ(a.read[1].second["v"], "changed");
  EXPECT_EQ(a.read[100].second["v"], "new");
  ASSERT_TRUE(wait_until([&] { return pipeline_health(port).value("state", "") == "running"; }, 20s)) << pipeline_health(port).dump();
  EXPECT_EQ(metric(port, "pgtrickle_relay_slot_rebuilds_total{pipeline=\"items-out\"}"), 1);
  EXPECT_NE(relay.err().find("Rebuilt the replication slot"), std::string::npos);
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(20s), 0);
}

// A pipeline of source type "wal" capturing two tables, "on_slot_lost": "rebuild": the gap is
// announced on each table's route, before that table's backfilled rows, and every row comes.
TEST(SlotLost, APipelineOfManyTablesAnnouncesTheGapForEachTable) {
  OwnServer server(4);
  std::string out = work_dir() + "/slot-lost-tables.jsonl";
  std::string login = set_up(server, "slot_tables", "CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text)",
                             "ab-out", {{"source", {{"type", "wal"}, {"tables", {"public.a", "public.b"}}}},
                                        {"sink", {{"type", "file"}, {"path", out}}}, {"on_slot_lost", "rebuild"}});
  auto c = connect_to(server.url("slot_tables"), "slot-lost-test");
  std::vector<std::string> args{"--postgres-url", login, "--metrics-addr", "127.0.0.1:0"};
  {
    RelayProcess relay(args);
    relay.admin_port();
    ASSERT_TRUE(wait_until([&] { return value(c, "SELECT count(*) FROM pg_stat_replication") == "1"; }, 20s)) << relay.err();
    ASSERT_TRUE(c.exec("INSERT INTO a VALUES (1, 'a1'), (2, 'a2'); INSERT INTO b VALUES (1, 'b1')"));
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 3; }, 20s)) << relay.err();
    relay.signal(SIGTERM);
    ASSERT_EQ(relay.wait(20s), 0);
  }
  ASSERT_TRUE(c.exec("UPDATE a SET v = 'a1 changed' WHERE id = 1; DELETE FROM b WHERE id = 1; INSERT INTO b VALUES (2, 'b2')"));
  invalidate_slot(c);

  RelayProcess relay(args);
  int port = relay.admin_port();
  ASSERT_TRUE(wait_until([&] {
    auto lines = json_lines(out);
    return after_rebuild(lines, "a").read.size() == 2 && after_rebuild(lines, "b").read.size() == 1;
  }, 60s)) << relay.err();
  auto lines = json_lines(out);
  auto a = after_rebuild(lines, "a"), b = after_rebuild(lines, "b");
  ASSERT_GE(a.gap, 0) << "a gap marker on table a's route";
  ASSERT_GE(b.gap, 0) << "a gap marker on table b's route";
  for (const auto& [id, r] : a.read) EXPECT_LT(a.gap, r.first) << "a: the marker before row " << id;
  for (const auto& [id, r] : b.read) EXPECT_LT(b.gap, r.first) << "b: the marker before row " << id;
  EXPECT_EQ(a.read[1].second["v"], "a1 changed");
  EXPECT_EQ(b.read[2].second["v"], "b2");
  EXPECT_EQ(b.read.count(1), 0u);
  EXPECT_EQ(a.gap_marker["gap"], b.gap_marker["gap"]) << "one gap";
  ASSERT_TRUE(wait_until([&] { return pipeline_health(port).value("state", "") == "running"; }, 20s)) << pipeline_health(port).dump();
  EXPECT_EQ(metric(port, "pgtrickle_relay_slot_rebuilds_total{pipeline=\"ab-out\"}"), 1);
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(20s), 0);
}
