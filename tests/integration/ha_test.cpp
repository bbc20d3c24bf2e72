// Several relays in one group: pipelines spread across them, a dead relay's pipelines move to the
// others, and a relay that stalled past its lease cannot store a position or acknowledge anything
// once it wakes up. A login that is not a relay holding a pipeline's ownership lock is named.
#include <signal.h>

#include <set>
#include <thread>

#include "core/ownership.h"
#include "fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> with_lease(std::vector<std::string> args, const std::string& seconds) {
  args.insert(args.end(), {"--lease-timeout", seconds});
  return args;
}


}  // namespace

TEST(HighAvailability, PipelinesSpreadAcrossTheRelaysOfAGroupAndMoveWhenOneDies) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  std::vector<std::string> files;
  for (int i = 1; i <= 4; ++i) {
    files.push_back(work_dir() + "/spread-" + std::to_string(i) + "-" + db.name());
    set_outbox_pipeline(db, "p" + std::to_string(i), {{"stream_table", "t"}, {"sink_type", "file"}, {"path", files.back()}});
  }
  RelayProcess a(relay_args(db, "spread"));
  ASSERT_TRUE(wait_until([&] { return owned(a) == 4; }, 15s)) << a.err();
  RelayProcess b(relay_args(db, "spread"));
  // The first relay hands pipelines over until each holds its share.
  ASSERT_TRUE(wait_until([&] { return owned(a) == 2 && owned(b) == 2; }, 30s)) << a.err() << b.err();
  ASSERT_TRUE(wait_until([&] {
    return db.number("SELECT count(DISTINCT owner) FROM pgtrickle.list_relay_configs() WHERE state = 'running'") == 2 &&
           db.number("SELECT count(*) FROM pgtrickle.list_relay_configs() WHERE owner IS NOT NULL") == 4;
  }, 15s)) << "list_relay_configs() shows which relay owns which pipeline";
  // Idle pipelines, owned or handed over and standing by, wait without spinning.
  double cpu_before = a.cpu_seconds();
  std::this_thread::sleep_for(2s);
  EXPECT_LT(a.cpu_seconds() - cpu_before, 0.3) << "the relay that handed pipelines over uses the CPU while idle";

  db.exec("INSERT INTO t SELECT g FROM generate_series(1, 100) g");
  for (const auto& f : files) ASSERT_TRUE(wait_until([&] { return read_lines(f).size() == 100; }, 15s)) << f;

  b.kill9();
  b.wait(5s);
  ASSERT_TRUE(wait_until([&] { return owned(a) == 4; }, 10s)) << "the survivor takes the dead relay's pipelines\n" << a.err();
  db.exec("INSERT INTO t SELECT g FROM generate_series(101, 150) g");
  for (const auto& f : files) {
    auto ids = wait_for_distinct_ids(f, 150, 15s);
    EXPECT_EQ(ids.size(), 150u) << "nothing lost in " << f;
    EXPECT_EQ(ids.empty() ? 0 : *ids.rbegin(), 150) << "only the table's rows in " << f;
  }
}

TEST(HighAvailability, AStalledOwnerIsFencedAndCannotMoveThePositionOnceItWakes) {
  TestDb db;
  TestDb remote;
  remote.exec("SELECT pgtrickle.create_inbox('fence')");
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "fenced", {{"stream_table", "t"}, {"sink_type", "pg-inbox"}, {"postgres_url", remote.relay_url()},
                                     {"inbox_name", "fence"}});
  auto offsets_owner = [&] { return db.value("SELECT coalesce(max(worker_id), '') FROM pgtrickle.relay_offsets WHERE pipeline = 'fenced'"); };

  RelayProcess a(with_lease(relay_args(db, "fence"), "2"));
  ASSERT_TRUE(wait_until([&] { return a.err().find("Took ownership") != std::string::npos; }, 10s)) << a.err();
  RelayProcess b(with_lease(relay_args(db, "fence"), "2"));
  ASSERT_TRUE(wait_until([&] { return b.err().find("standing by") != std::string::npos; }, 10s)) << b.err();
  db.exec("INSERT INTO t SELECT g FROM generate_series(1, 5) g");
  ASSERT_TRUE(wait_until([&] { return offsets_owner() != ""; }, 10s)) << a.err();
  std::string first_owner = offsets_owner();

  // The owner has a batch between its source and the inbox commit when it stalls.
  auto lock = std::make_unique<TableLock>(remote, "pgtrickle.inbox_fence");
  db.exec("INSERT INTO t SELECT g FROM generate_series(6, 10) g");
  ASSERT_TRUE(insert_blocked(remote, 10s)) << a.err();
  a.signal(SIGSTOP);
  ASSERT_TRUE(wait_until([&] { return b.err().find("Took ownership") != std::string::npos; }, 10s))
      << "a standby takes over once the stalled owner's lease lapsed\n" << b.err();
  lock->release();
  db.exec("INSERT INTO t SELECT g FROM generate_series(11, 15) g");
  ASSERT_TRUE(wait_until([&] { return remote.number("SELECT count(*) FROM pgtrickle.inbox_fence") == 15; }, 15s)) << b.err();
  ASSERT_TRUE(wait_until([&] { return offsets_owner() != first_owner; }, 10s)) << b.err();
  std::string new_owner = offsets_owner();
  long long position = db.number("SELECT last_id FROM pgtrickle.relay_offsets WHERE pipeline = 'fenced'");

  a.signal(SIGCONT);
  ASSERT_TRUE(wait_until([&] { return a.err().find("no longer owns the pipeline") != std::string::npos ||
                                      a.err().find("lease session was lost") != std::string::npos; }, 15s)) << a.err();
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(offsets_owner(), new_owner) << "the woken relay stored no position\n" << a.err();
  EXPECT_EQ(db.number("SELECT last_id FROM pgtrickle.relay_offsets WHERE pipeline = 'fenced'"), position);
  EXPECT_EQ(owned(a), 0);
  int status = 0;
  auto health = json::parse(http_get(a.admin_port(), "/health", status));
  EXPECT_EQ(health["pipelines"][0]["state"], "standby") << health.dump();
  EXPECT_EQ(remote.number("SELECT count(DISTINCT event_id) FROM pgtrickle.inbox_fence"), 15);

  // The new owner goes on.
  db.exec("INSERT INTO t SELECT g FROM generate_series(16, 20) g");
  ASSERT_TRUE(wait_until([&] { return remote.number("SELECT count(*) FROM pgtrickle.inbox_fence") == 20; }, 15s)) << b.err();
}

// Any login may take an advisory lock whose key it knows, and the ownership keys are computed from
// public names. A stranger holding one is named on /health and in the log, with the way out; once
// its session ends, the pipeline runs.
TEST(HighAvailability, AStrangerHoldingAPipelinesLockIsNamedUntilItsSessionEnds) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  std::string file = work_dir() + "/stranger-" + db.name();
  set_outbox_pipeline(db, "held", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", file}});
  std::string role = db.name() + "_stranger";
  db.exec("CREATE ROLE " + role + " LOGIN");
  std::string url = db.url();
  auto at = url.find('@'), scheme = url.find("://");
  auto stranger = relay::pg::Connection::open(url.substr(0, scheme + 3) + role + url.substr(at), "not a relay");
  ASSERT_TRUE(stranger) << stranger.error().message;
  auto pid = stranger->exec("SELECT pg_backend_pid()::text");
  ASSERT_TRUE(pid);
  ASSERT_TRUE(stranger->exec("SELECT pg_advisory_lock(" + std::to_string(relay::ownership_lock_key("default", "held")) + ")"));

  RelayProcess relay(relay_args(db));  // a pipeline defined in SQL is owned within group "default"
  std::string error = wait_for_pipeline_error(relay, "held");
  EXPECT_NE(error.find("held by pid " + pid->str(0, 0) + " (role " + role), std::string::npos) << error;
  EXPECT_NE(error.find("not a relay's"), std::string::npos) << error;
  EXPECT_NE(error.find("pg_terminate_backend(" + pid->str(0, 0) + ")"), std::string::npos) << error;
  EXPECT_NE(relay.err().find("A session that is not a relay holds the pipeline's ownership lock"), std::string::npos) << relay.err();

  db.exec("SELECT pg_terminate_backend(" + pid->str(0, 0) + ")");
  db.exec("INSERT INTO t SELECT g FROM generate_series(1, 10) g");
  EXPECT_TRUE(wait_until([&] { return read_lines(file).size() == 10; }, 15s)) << "the pipeline runs once the stranger is gone\n" << relay.err();
  int status = 0;
  auto health = json::parse(http_get(relay.admin_port(), "/health", status));
  EXPECT_EQ(health["pipelines"][0]["state"], "running") << health.dump();
  EXPECT_TRUE(health["pipelines"][0]["last_error"].is_null()) << health.dump();
}
