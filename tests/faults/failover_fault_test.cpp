// A WAL pipeline with "failover": true across the loss of its primary, on PostgreSQL 17 and 18: a
// physical standby keeps a copy of the pipeline's slot (sync_replication_slots), the relay falls
// 300 rows behind (frozen), the primary is killed (-9) mid-stream, the standby is promoted, and the
// relay, given both servers in its URL (target_session_attrs=read-write), goes on from the copied
// slot: the rows it had not read come from the old primary's WAL the standby kept. Every row the
// standby received arrives, and every row written after the promotion, in commit order; nothing is
// backfilled and no slot is made anew; a message arrives twice only if it came after the position
// the standby's copy had been confirmed to. PostgreSQL 17 is Debian 13's and 18 Debian testing's
// (forky), each run in a root of its release (scripts/pg-server.sh, PGTRICKLE_PG_RELEASE); the
// servers are the test's own (ports 55750-55751 for 17, 55752-55753 for 18). Skipped without root
// or when the Debian archive cannot be reached to make the root.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <regex>
#include <thread>

#include "fault_fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kStandbySlot = "failover_standby";

// A PostgreSQL version with failover slots, the Debian release whose PostgreSQL it is, and the
// ports of the test's primary and standby.
struct Server {
  int version;
  const char* release;
  int primary_port, standby_port;
};
const Server kServers[] = {{17, "trixie", 55750, 55751}, {18, "forky", 55752, 55753}};
void PrintTo(const Server& s, std::ostream* os) { *os << "PostgreSQL " << s.version << " (Debian " << s.release << ")"; }

// Writes rows to `url`, five per transaction, one transaction every 20 ms, from `first` on, until
// stop() or a statement fails (the server is gone). committed() is the last row of the last
// transaction whose COMMIT the server acknowledged.
class Writer {
 public:
  Writer(std::string url, int first) : url_(std::move(url)), next_(first) {
    thread_ = std::thread([this] { run(); });
  }
  ~Writer() { stop(); }
  void stop() {
    quit_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int committed() const { return committed_; }
  const std::string& error() const { return error_; }

 private:
  void run() {
    auto c = relay::pg::Connection::open(url_, "failover-writer");
    if (!c) {
      error_ = c.error().message;
      return;
    }
    while (!quit_) {
      std::string sql = "INSERT INTO items SELECT g, 'row ' || g FROM generate_series(" + std::to_string(next_) + ", " +
                        std::to_string(next_ + 4) + ") g";
      if (auto r = c->exec(sql); !r) {
        error_ = r.error().message;
        return;
      }
      next_ += 5;
      committed_ = next_ - 1;
      std::this_thread::sleep_for(20ms);
    }
  }
  std::string url_;
  int next_;
  std::atomic<int> committed_{0};
  std::atomic<bool> quit_{false};
  std::string error_;
  std::thread thread_;
};

// The highest row of `url`'s items (-1 when the server does not answer).
int max_id(const std::string& url) {
  std::string v = query_value(url, "SELECT coalesce(max(id), 0) FROM items");
  return v.empty() ? -1 : std::stoi(v);
}

long long lsn_number(const std::string& url, const std::string& lsn) {
  return std::stoll(query_value(url, "SELECT ('" + lsn + "'::pg_lsn - '0/0')::bigint"));
}

}  // namespace

class FaultFailover : public ::testing::TestWithParam<Server> {};

TEST_P(FaultFailover, AFailoverSlotCarriesAWalPipelineAcrossThePromotionOfAStandby) {
  const Server& server = GetParam();
  const int primary_port = server.primary_port, standby_port = server.standby_port;
  const std::string release_env = std::string("PGTRICKLE_PG_RELEASE=") + server.release;
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root: PostgreSQL " << server.version << " runs in a Debian " << server.release << " root (scripts/debian-root.sh)";
  std::string made;
  int rc = run_command(source_script("scripts/debian-root.sh") + " make " + server.release + " server", made);
  if (rc == 75) GTEST_SKIP() << "no Debian archive to make the PostgreSQL " << server.version << " root: " << made;
  ASSERT_EQ(rc, 0) << made;

  PrivateServer primary("pg", primary_port, release_env);
  primary.export_to_harnesses();
  TestDb db;
  ASSERT_GE(db.number("SELECT current_setting('server_version_num')::int"), server.version * 10000);
  std::string login_url = replication_login_url(db);
  db.exec("CREATE TABLE items (id int PRIMARY KEY, note text)");
  std::string out = work_dir() + "/failover-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "items-out", {{"source", {{"type", "wal"}, {"tables", {"public.items"}}, {"failover", true}}},
                                        {"sink", {{"type", "file"}, {"path", out}}}, {"batch_size", 50}});

  // The standby: a copy of the primary through a physical slot, copying the failover slots; the
  // primary sends no change to a logical consumer before that standby has it.
  PrivateServer standby("pg", standby_port, release_env + " PGTRICKLE_PG_STANDBY_OF=" + std::to_string(primary_port) + ":" + kStandbySlot);
  db.exec(std::string("ALTER SYSTEM SET synchronized_standby_slots = '") + kStandbySlot + "'");
  db.exec("SELECT pg_reload_conf()");
  std::string standby_db = "postgresql://postgres@127.0.0.1:" + std::to_string(standby_port) + "/" + db.name();

  // The relay knows both servers and takes the one that accepts writes.
  auto at = login_url.find('@');
  std::string both = login_url.substr(0, at + 1) + "127.0.0.1:" + std::to_string(primary_port) + ",127.0.0.1:" +
                     std::to_string(standby_port) + "/" + db.name() + "?target_session_attrs=read-write";
  RelayProcess relay({"--postgres-url", both, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();
  EXPECT_EQ(db.value("SELECT failover FROM pg_replication_slots WHERE database = current_database()"), "t") << "a failover slot";

  // Rows written steadily; the standby's copy of the slot becomes usable (no longer temporary) once
  // the primary's slot moved past where the copy began: its catalog xmin moves when the decoding
  // meets a snapshot of the running transactions, which the server logs every 15 s (sooner here).
  auto writer = std::make_unique<Writer>(db.url(), 1);
  auto synced = [&] {
    return query_value(standby_db, "SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical' AND synced AND NOT temporary "
                                   "AND confirmed_flush_lsn IS NOT NULL") == "1";
  };
  auto sync_began = SteadyClock::now();
  while (!synced() && seconds_since(sync_began) < 120) {
    db.exec("SELECT pg_log_standby_snapshot()");
    std::this_thread::sleep_for(1s);
  }
  ASSERT_TRUE(synced()) << "the standby has a synced copy of the slot\n" << relay.err();
  double sync_seconds = seconds_since(sync_began);
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 500; }, 60s)) << relay.err();

  // The relay falls behind (frozen) while the rows go on and reach the standby: what it has not read
  // when the primary dies must come from the standby's copy of the slot.
  relay.signal(SIGSTOP);
  int frozen_at = writer->committed();
  ASSERT_TRUE(wait_until([&] { return writer->committed() >= frozen_at + 300; }, 60s)) << writer->error();
  ASSERT_TRUE(wait_until([&] { return max_id(standby_db) >= frozen_at + 300; }, 60s)) << "the standby replays the rows";
  size_t delivered_at_kill = wait_for_distinct_ids(out, 0, 0s).size();

  // The primary dies mid-stream; the copy's confirmed position no longer moves.
  primary.kill();
  writer->stop();
  int committed_before = writer->committed();
  std::string copy_confirmed = query_value(standby_db, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_type = 'logical'");
  ASSERT_FALSE(copy_confirmed.empty());
  long long confirmed = lsn_number(standby_db, copy_confirmed);
  ASSERT_EQ(query_value(standby_db, "SELECT pg_promote(true, 60)"), "t");
  relay.signal(SIGCONT);
  // What the standby had received of the old primary's rows: all the relay can be sent.
  int received = max_id(standby_db);
  EXPECT_GT(static_cast<size_t>(received), delivered_at_kill + 250) << "a backlog to read from the copy of the slot";
  EXPECT_EQ(query_value(standby_db, "SELECT count(*) FROM items"), std::to_string(received)) << "the standby's rows are 1..n";

  // Writes go on on the new primary; the relay follows it.
  Writer after(standby_db, received + 1);
  ASSERT_TRUE(wait_until([&] { return after.committed() >= received + 500 || !after.error().empty(); }, 60s)) << after.error();
  after.stop();
  ASSERT_TRUE(after.error().empty()) << after.error();
  int last = after.committed();
  auto ids = wait_for_distinct_ids(out, static_cast<size_t>(last), 120s);
  ASSERT_EQ(ids.size(), static_cast<size_t>(last)) << "every row the standby received and every row after the promotion\n" << relay.err();
  EXPECT_EQ(*ids.rbegin(), last);

  // In commit order (rows go in id order), each once but for what the copy had not been
  // confirmed to: a message that comes again comes after the position the copy held.
  size_t repeats = 0;
  bool in_order = true, repeats_unconfirmed = true;
  int highest = 0;
  static const std::regex shape("items:([0-9]+):([0-9]+)");
  for (const auto& m : json_lines(out)) {
    EXPECT_EQ(m["op"], "insert") << "no backfill (op read) and no gap marker: " << m.dump();
    int id = m["payload"]["id"];
    std::smatch parts;
    std::string key = m["dedup_key"];
    ASSERT_TRUE(std::regex_match(key, parts, shape)) << key;
    if (id <= highest) {
      ++repeats;
      repeats_unconfirmed = repeats_unconfirmed && std::stoll(parts[1]) > confirmed;
      continue;
    }
    in_order = in_order && id == highest + 1;
    highest = id;
  }
  EXPECT_TRUE(in_order) << "first arrivals in commit order, none skipped";
  EXPECT_TRUE(repeats_unconfirmed) << "a message came again that the standby's copy had been confirmed past (" << copy_confirmed << ")";
  // Rows the old primary acknowledged that its standby had not received are lost with it (the
  // replication is asynchronous): they were never sent to the relay either.
  std::cerr << "rows received by the standby " << received << " (acknowledged by the old primary " << committed_before
            << "), of which delivered before the kill " << delivered_at_kill << "; written after the promotion " << last - received
            << "; sent again " << repeats << "; the copy synced in " << sync_seconds << " s\n";

  // Nothing was made anew: the relay made one slot (before the failover) and ran no backfill.
  EXPECT_EQ(query_value(standby_db, "SELECT count(*) FROM pgtrickle.relay_backfills"), "0");
  EXPECT_EQ(query_value(standby_db, "SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical'"), "1");
  std::string log = relay.err();
  size_t creations = 0;
  for (size_t p = log.find("Creating the replication slot"); p != std::string::npos; p = log.find("Creating the replication slot", p + 1))
    ++creations;
  EXPECT_EQ(creations, 1u) << log;
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(20s), 0) << relay.err();
}

INSTANTIATE_TEST_SUITE_P(Postgres, FaultFailover, ::testing::ValuesIn(kServers),
                         [](const ::testing::TestParamInfo<Server>& info) { return "Postgres" + std::to_string(info.param.version); });
