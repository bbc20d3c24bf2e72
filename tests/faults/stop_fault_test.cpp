// A stop while the database has gone silent, as when a container's network is taken down at the
// moment SIGTERM arrives (podman pod stop): the relay's connections stay open and nothing answers
// on them, so a libpq call waits for ever. Here every process of the test's own PostgreSQL (port
// 55741) is stopped with SIGSTOP. The stop must still end within the drain limit (10 s) and its
// margin (5 s): the relay names what did not finish and exits 1 rather than wait to be killed.
#include <dirent.h>
#include <signal.h>

#include <cstdlib>
#include <sstream>

#include "fault_fixture.h"

using namespace relay::test;
using namespace std::chrono_literals;

namespace {

constexpr double kStopLimitSeconds = 10 + 5;

// The parent of process `pid` (from /proc/<pid>/stat; 0 when unknown).
int parent_of(int pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto end_of_name = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (end_of_name == std::string::npos) return 0;
  std::istringstream fields(stat.substr(end_of_name + 1));
  std::string state;
  int ppid = 0;
  fields >> state >> ppid;
  return ppid;
}

// The postmaster of the PostgreSQL server at `url` (named by postmaster.pid in its data directory),
// when it is one this test started: its data directory is under work_dir(). 0 for any other
// server, which is never to be stopped.
int own_postmaster(const std::string& url) {
  std::string data_dir = query_value(url, "SELECT current_setting('data_directory')");
  if (data_dir.empty() || data_dir.rfind(work_dir() + "/", 0) != 0) return 0;
  int pid = std::atoi(read_file(data_dir + "/postmaster.pid").c_str());
  return pid > 1 ? pid : 0;
}

std::vector<int> children_of(int parent) {
  std::vector<int> pids;
  DIR* proc = ::opendir("/proc");
  while (dirent* entry = proc ? ::readdir(proc) : nullptr) {
    int pid = std::atoi(entry->d_name);
    if (pid > 1 && parent_of(pid) == parent) pids.push_back(pid);
  }
  if (proc) ::closedir(proc);
  return pids;
}

// A PostgreSQL server stopped with SIGSTOP, its postmaster first (so that it starts no process
// meanwhile) and then the postmaster's children, the backends among them, until thaw() or
// destruction.
class Frozen {
 public:
  explicit Frozen(int postmaster) : pids_{postmaster} {
    ::kill(postmaster, SIGSTOP);
    for (int child : children_of(postmaster)) {
      ::kill(child, SIGSTOP);
      pids_.push_back(child);
    }
  }
  ~Frozen() { thaw(); }
  Frozen(const Frozen&) = delete;
  size_t processes() const { return pids_.size(); }
  void thaw() {
    for (int pid : pids_) ::kill(pid, SIGCONT);
    pids_.clear();
  }

 private:
  std::vector<int> pids_;
};

TEST(FaultStop, StopWhileTheDatabaseIsSilentEndsWithinItsLimit) {
  PrivateServer pg("pg", 55741);
  pg.export_to_harnesses();
  TestDb db;
  db.exec("CREATE TABLE items (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('items')");
  set_outbox_pipeline(db, "silent", {{"stream_table", "items"}, {"sink_type", "stdout"}});
  RelayProcess relay(relay_args(db));
  int port = relay.admin_port();
  ASSERT_GT(port, 0) << relay.err();
  db.exec("INSERT INTO items SELECT generate_series(1, 100)");
  ASSERT_TRUE(wait_until([&] { return counter(port, "pgtrickle_relay_messages_delivered_total", "silent") >= 100; }, 30s))
      << relay.err();

  int postmaster = own_postmaster(db.url());
  ASSERT_GT(postmaster, 1) << "no postmaster of the test's own PostgreSQL under " << work_dir();
  Frozen silent(postmaster);
  ASSERT_GE(silent.processes(), 2u) << "no backend of the test's PostgreSQL was stopped";
  auto stopped_at = SteadyClock::now();
  relay.signal(SIGTERM);
  int status = relay.wait(30s);
  double took = seconds_since(stopped_at);
  silent.thaw();

  std::string log = relay.err();
  ASSERT_NE(status, -1) << "the relay was still stopping 30 s after SIGTERM\n" << log;
  EXPECT_EQ(status, 1) << log;
  EXPECT_GE(took, kStopLimitSeconds - 1) << "the relay gave up before the drain limit had passed\n" << log;
  EXPECT_LT(took, kStopLimitSeconds + 3) << "the stop outlasted its limit\n" << log;
  EXPECT_NE(log.find("Received a stop signal; draining."), std::string::npos) << log;
  EXPECT_NE(log.find("The stop did not finish in time"), std::string::npos) << log;
  EXPECT_NE(log.find("waiting_for="), std::string::npos) << "the error names what did not finish\n" << log;
  EXPECT_NE(log.find("pipelines_not_stopped=silent"), std::string::npos) << log;
  EXPECT_EQ(log.find("pgtrickle-relay stopped."), std::string::npos) << log;
}

}  // namespace
