// Faults of the relay's own machine: the relay killed at a named point, and the file sink's disk
// full. The reverse crash point (after the inbox commit, before the broker ack) is a case of the
// source contract: SourceContract.KillDashNineBetweenInboxCommitAndAckLosesNothingAndDuplicatesNothing.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "../contract/sink_contract.h"
#include "fault_fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Forward, after the broker accepted a batch and before the outbox position moved: the restarted
// relay sends that batch again under the same identities, and nothing is lost.
TEST(FaultCrash, RelayKilledAfterSendBeforeAck) {
  TestDb db;
  db.exec("CREATE TABLE items (id int PRIMARY KEY, seq int NOT NULL, note text NOT NULL DEFAULT 'ok')");
  db.exec("SELECT pgtrickle.enable_outbox('items')");
  const int rows = 500;
  db.exec("INSERT INTO items SELECT g, g FROM generate_series(1, 250) g");
  db.exec("INSERT INTO items SELECT g, g FROM generate_series(251, 500) g");
  struct Target {
    std::string backend;
    std::unique_ptr<SinkHarness> harness;
    std::string unique;
  };
  std::vector<Target> targets;
  for (const char* backend : {"nats", "redis"}) {
    auto h = make_harness(backend);
    if (!h) continue;
    std::string unique = std::string("k") + backend + db.name();
    auto [host, port] = h->server();
    json config = h->sink_config(unique, host + ":" + std::to_string(port));
    config["stream_table"] = "items";
    config["batch_size"] = 50;
    set_outbox_pipeline(db, std::string("crash-") + backend, config);
    targets.push_back({backend, std::move(h), unique});
  }
  ASSERT_FALSE(targets.empty());
  {
    RelayProcess crashing(relay_args(db), {"PGTRICKLE_RELAY_CRASH_AT=after_delivery"});
    EXPECT_EQ(crashing.wait(60s), 128 + 9) << crashing.err();
  }
  auto crashed = SteadyClock::now();
  RelayProcess relay(relay_args(db));
  int port = relay.admin_port();
  for (auto& t : targets) {
    std::string pipeline = "crash-" + t.backend;
    double recover = -1;
    ASSERT_TRUE(wait_until([&] { return counter(port, "pgtrickle_relay_messages_delivered_total", pipeline) >= rows; }, 60s))
        << relay.err();
    recover = seconds_since(crashed);
    auto got = t.harness->read(t.unique, rows, 30s);
    auto c = check_forward(got, rows);
    EXPECT_TRUE(c.missing.empty()) << t.backend << ": " << c.missing.size() << " rows lost";
    EXPECT_TRUE(c.one_identity_per_row) << t.backend << ": a batch sent again must keep its identities";
    EXPECT_TRUE(c.in_order) << t.backend;
    record({"relay killed after send, before ack", t.backend, "forward", rows, c.distinct,
            static_cast<long long>(c.missing.size()), c.duplicates, recover, "relay down (restarted by the test)"});
  }
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(20s), 0) << relay.err();
}

// A small tmpfs mounted for the test; unmounted (lazily) at the end.
class SmallDisk {
 public:
  explicit SmallDisk(const std::string& dir) : dir_(dir) {
    ::mkdir(dir.c_str(), 0755);
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=256k") == 0;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  // Writes a file until the disk is full.
  void fill(const std::string& name) {
    std::string block(4096, 'x');
    int fd = ::open((dir_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (size_t len = block.size(); len > 0; len /= 2)
      while (::write(fd, block.data(), len) == static_cast<ssize_t>(len)) {
      }
    ::close(fd);
  }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// The ids of a JSON-lines file of the file sink, and whether every line is a whole record.
struct FileState {
  std::vector<int> ids;
  bool whole = true;
};
FileState file_state(const std::string& path) {
  FileState s;
  std::string text = read_file(path);
  if (!text.empty() && text.back() != '\n') s.whole = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;
    auto j = json::parse(text.substr(pos, nl - pos), nullptr, false);
    if (j.is_discarded()) s.whole = false;
    else s.ids.push_back(j["payload"].value("id", 0));
    pos = nl + 1;
  }
  return s;
}

TEST(FaultDisk, FileSinkDiskFull) {
  std::string dir = work_dir() + "/small-disk";
  SmallDisk disk(dir);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  TestDb db;
  db.exec("CREATE TABLE items (id int PRIMARY KEY, seq int NOT NULL, note text NOT NULL DEFAULT 'ok')");
  db.exec("SELECT pgtrickle.enable_outbox('items')");
  std::string out = dir + "/out.jsonl";
  set_outbox_pipeline(db, "disk", {{"stream_table", "items"}, {"sink_type", "file"}, {"path", out}, {"batch_size", 20}});
  RelayProcess relay(relay_args(db));
  int port = relay.admin_port();
  HealthWatch watch(port);
  auto insert = [&](int from, int to) {
    for (int i = from; i <= to; i += 10)
      db.exec("INSERT INTO items SELECT g, g FROM generate_series(" + std::to_string(i) + ", " + std::to_string(i + 9) + ") g");
  };
  insert(1, 100);
  ASSERT_TRUE(wait_until([&] { return file_state(out).ids.size() == 100; }, 30s)) << relay.err();

  disk.fill("filler");
  watch.fault_begins();
  insert(101, 600);
  ASSERT_FALSE(wait_for_pipeline_error(relay, "disk").empty()) << relay.err();
  // While the disk is full: only whole records in the file, and none acknowledged past what it holds.
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(1s);
    long long acked_outbox_id = std::stoll("0" + db.value("SELECT last_id FROM pgtrickle.relay_offsets WHERE pipeline = 'disk'"));
    long long acked_rows = 10 * db.number("SELECT count(*) FROM pgtrickle.outbox_items WHERE id <= " + std::to_string(acked_outbox_id));
    auto s = file_state(out);
    EXPECT_TRUE(s.whole) << "a torn line in the file";
    EXPECT_GE(static_cast<long long>(s.ids.size()), acked_rows) << "acknowledged past what was written";
    for (size_t k = 0; k < s.ids.size(); ++k) ASSERT_EQ(s.ids[k], static_cast<int>(k + 1)) << "line " << k;
  }
  int status = 0;
  http_get(port, "/health", status);
  EXPECT_EQ(status, 503) << "/health shows the full disk";

  ::unlink((dir + "/filler").c_str());
  watch.fault_ends();
  double recover = -1;
  EXPECT_TRUE(wait_until([&] {
    http_get(port, "/health", status);
    if (recover < 0 && status == 200) recover = seconds_since(watch.ended());
    return file_state(out).ids.size() >= 600 && status == 200;
  }, 60s)) << relay.err();
  auto s = file_state(out);
  EXPECT_TRUE(s.whole);
  ASSERT_EQ(s.ids.size(), 600u) << "exactly once";
  for (size_t k = 0; k < s.ids.size(); ++k) ASSERT_EQ(s.ids[k], static_cast<int>(k + 1)) << "in order, line " << k;
  EXPECT_TRUE(watch.degraded_during());
  record({"file sink disk full", "file", "forward", 600, static_cast<long long>(s.ids.size()), 600 - static_cast<long long>(s.ids.size()), 0,
          recover, watch.summary("disk")});
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(20s), 0) << relay.err();
}

}  // namespace
