// Relay groups and balancing, with several relay processes on one database: a pipeline runs in
// exactly one relay group (never delivered twice because relays of other groups run too), a relay
// whose group runs nothing says so, and relays spread pipelines by what each can run without
// moving anything once balanced.
#include <set>
#include <thread>

#include "fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

double owned_metric(RelayProcess& relay, const std::string& pipeline) {
  return metric(relay.admin_port(), "pgtrickle_relay_pipeline_owned{pipeline=\"" + pipeline + "\"}");
}

std::set<int> ids_in(const std::string& file) {
  std::set<int> ids;
  for (const auto& l : json_lines(file)) ids.insert(l["payload"]["id"].get<int>());
  return ids;
}

}  // namespace

TEST(RelayGroups, EachPipelineIsDeliveredOnceWhateverRelayGroupsRun) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  std::string any = work_dir() + "/groups-any-" + db.name(), dc1 = work_dir() + "/groups-dc1-" + db.name(),
              dc9 = work_dir() + "/groups-dc9-" + db.name();
  set_outbox_pipeline(db, "any", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", any}});
  set_outbox_pipeline(db, "in-dc1", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", dc1}, {"relay_group", "dc1"}});
  // pg_trickle's positional form: p_group is the relay group.
  db.exec("SELECT pgtrickle.set_relay_outbox('in-dc9', 't', 'dc9', '{\"type\": \"file\", \"path\": \"" + dc9 + "\"}'::jsonb)");

  RelayProcess a(relay_args(db, "default"));
  RelayProcess b(relay_args(db, "dc1"));
  RelayProcess c(relay_args(db, "other"));
  db.exec("INSERT INTO t SELECT g FROM generate_series(1, 30) g");
  ASSERT_TRUE(wait_until([&] { return read_lines(any).size() >= 30 && read_lines(dc1).size() >= 30; }, 20s))
      << a.err() << b.err() << c.err();
  std::this_thread::sleep_for(3s);  // time for a second delivery, if any relay were to make one
  EXPECT_EQ(read_lines(any).size(), 30u) << "a pipeline assigned to no group runs on one relay at a time, whatever its group";
  EXPECT_EQ(read_lines(dc1).size(), 30u) << "a pipeline of group dc1 is delivered once";
  EXPECT_EQ(owned_metric(b, "in-dc1"), 1) << "only the relay of group dc1 runs it";
  EXPECT_NE(b.err().find("pipeline=in-dc1"), std::string::npos) << b.err();
  EXPECT_EQ(a.err().find("pipeline=in-dc1"), std::string::npos) << a.err();
  EXPECT_EQ(c.err().find("pipeline=in-dc1"), std::string::npos) << c.err();
  EXPECT_TRUE(read_file(dc9).empty()) << "no relay of group dc9 runs, so nothing runs in-dc9";
  EXPECT_EQ(db.value("SELECT string_agg(name || '=' || coalesce(relay_group_id, 'any'), ',' ORDER BY name) "
                     "FROM pgtrickle.list_relay_configs()"),
            "any=any,in-dc1=dc1,in-dc9=dc9");

  // The relays of other groups go; the pipeline assigned to none carries on, on the one left.
  a.signal(SIGTERM);
  c.signal(SIGTERM);
  a.wait(15s);
  c.wait(15s);
  db.exec("INSERT INTO t SELECT g FROM generate_series(31, 40) g");
  ASSERT_TRUE(wait_until([&] { return read_lines(any).size() >= 40; }, 20s)) << b.err();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(read_lines(any).size(), 40u);
  EXPECT_EQ(ids_in(any).size(), 40u);
}

TEST(RelayGroups, ARelayWhoseGroupRunsNothingSaysWhichGroupsDo) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "in-dc1", {{"stream_table", "t"}, {"sink_type", "stdout"}, {"relay_group", "dc1"}});
  set_outbox_pipeline(db, "in-dc2", {{"stream_table", "t"}, {"sink_type", "stdout"}, {"relay_group", "dc2"}});
  RelayProcess r(relay_args(db, "lonely"));
  ASSERT_TRUE(wait_until([&] { return r.err().find("No pipeline runs in this relay's group") != std::string::npos; }, 10s)) << r.err();
  EXPECT_NE(r.err().find("dc1 (1), dc2 (1)"), std::string::npos) << r.err();
  EXPECT_EQ(count_of(r.err(), "No pipeline runs in this relay's group"), 1u) << "said once, not at every reload";
}

// A pipeline that ran under another relay group's name (before it was assigned, or before
// pipelines had groups) carries on from that group's position instead of sending everything again.
TEST(RelayGroups, APipelineCarriesOnFromThePositionAnotherGroupStored) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  for (int i = 1; i <= 10; ++i) db.exec("INSERT INTO t VALUES (" + std::to_string(i) + ")");
  std::string out = work_dir() + "/groups-moved-" + db.name();
  set_outbox_pipeline(db, "moved", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", out}});
  std::string outbox = db.value("SELECT outbox_name FROM pgtrickle.outbox_tables WHERE source_table = 't'");
  // Rows 1-5 were delivered while the pipeline ran under group dc-before (which numbered the commits).
  db.exec("SELECT pgtrickle.outbox_watermark()");
  db.exec("INSERT INTO pgtrickle.relay_offsets (relay_group_id, pipeline, last_seq, last_id, outbox) "
          "SELECT 'dc-before', 'moved', c.seq, o.id, '" + outbox + "' FROM pgtrickle." + outbox +
          " o JOIN pgtrickle.outbox_commits c ON c.xid = o.xid AND c.outbox = '" + outbox + "' ORDER BY o.id OFFSET 4 LIMIT 1");
  RelayProcess r(relay_args(db, "dc-now"));
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 5; }, 15s)) << r.err();
  db.exec("INSERT INTO t VALUES (11)");
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 6; }, 15s)) << r.err();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(ids_in(out), (std::set<int>{6, 7, 8, 9, 10, 11})) << r.err();
  EXPECT_EQ(read_lines(out).size(), 6u);
  EXPECT_NE(r.err().find("Carrying on from the position stored under another relay group"), std::string::npos) << r.err();
}

// Relay A has a file pipeline nobody else can run and a catalog pipeline; relay B only the catalog
// one. The catalog pipeline moves to B once; the file pipeline never leaves A; then nothing moves.
TEST(Balancing, APipelineMovesOnlyToARelayThatCanRunItAndABalancedGroupStaysPut) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  std::string file_out = work_dir() + "/balance-file-" + db.name(), sql_out = work_dir() + "/balance-sql-" + db.name();
  set_outbox_pipeline(db, "z-sql", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", sql_out}});
  std::string toml = write_toml(db, "[[pipeline]]\nname = \"a-file\"\nsource = { type = \"outbox\", stream_table = \"t\" }\n"
                                    "sink = { type = \"file\", path = \"" + file_out + "\" }\n");
  RelayProcess a({"--config", toml});
  ASSERT_TRUE(wait_until([&] { return owned_metric(a, "a-file") == 1 && owned_metric(a, "z-sql") == 1; }, 15s)) << a.err();
  RelayProcess b(relay_args(db, "default"));
  ASSERT_TRUE(wait_until([&] { return owned_metric(b, "z-sql") == 1; }, 20s)) << "the idle relay gets the pipeline it can run\n"
                                                                             << a.err() << b.err();
  EXPECT_EQ(owned_metric(a, "a-file"), 1);
  EXPECT_EQ(count_of(a.err(), "handing it over"), 1u) << a.err();

  // Balanced: for 10 s nothing changes hands, and rows flow to both.
  size_t takes_a = count_of(a.err(), "Took ownership"), takes_b = count_of(b.err(), "Took ownership");
  for (int i = 1; i <= 10; ++i) {
    db.exec("INSERT INTO t VALUES (" + std::to_string(i) + ")");
    std::this_thread::sleep_for(1s);
  }
  EXPECT_EQ(count_of(a.err(), "Took ownership"), takes_a) << a.err();
  EXPECT_EQ(count_of(b.err(), "Took ownership"), takes_b) << b.err();
  EXPECT_EQ(count_of(a.err(), "handing it over"), 1u) << a.err();
  ASSERT_TRUE(wait_until([&] { return read_lines(file_out).size() == 10 && read_lines(sql_out).size() == 10; }, 10s));
  EXPECT_EQ(db.value("SELECT count(DISTINCT owner) FROM pgtrickle.list_relay_configs() WHERE state = 'running'"), "2");
}
