// What the fault suite shares (servers of a test's own are integration/fixture.h's PrivateServer): a steady feed of rows or messages that can be paused around
// a fault, a watcher of /health, and the result line each case adds to faults.jsonl.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../contract/sink_contract.h"
#include "../integration/fixture.h"

namespace relay::test {

using SteadyClock = std::chrono::steady_clock;

// Calls feed(from, to) for the numbers 1..total in chunks, one chunk per `interval`, on a thread of
// its own. pause() returns once the chunk under way is done; no chunk starts until resume().
class Feeder {
 public:
  Feeder(int total, int chunk, std::chrono::milliseconds interval, std::function<void(int, int)> feed);
  ~Feeder();
  void pause();
  void resume();
  void wait_done();
  int fed() const { return fed_; }

 private:
  std::mutex mu_;
  std::atomic<bool> paused_{false}, quit_{false};
  std::atomic<int> fed_{0};
  std::thread thread_;
};

// Polls /health every 200 ms and keeps what it said, to tell what it showed while a fault lasted.
class HealthWatch {
 public:
  explicit HealthWatch(int admin_port);
  ~HealthWatch();
  void fault_begins() { begin_ = SteadyClock::now(); }
  void fault_ends() { end_ = SteadyClock::now(); }
  SteadyClock::time_point ended() const { return end_; }
  // Whether a 503 was seen between fault_begins() and fault_ends() (plus `grace` after it), with
  // `pipeline` (when given) in a state other than running.
  bool degraded_during(const std::string& pipeline = "", std::chrono::milliseconds grace = std::chrono::seconds(2));
  // What /health said during the fault, short: "503 (n/m polls); database unreachable; fwd
  // retrying: <error>", about `pipeline` only when given.
  std::string summary(const std::string& pipeline = "", std::chrono::milliseconds grace = std::chrono::seconds(2));
  // Seconds from the start of the fault to the first 503 (-1 if none).
  double seconds_to_degraded();

 private:
  struct Sample {
    SteadyClock::time_point at;
    int status;
    std::string body;
  };
  std::vector<Sample> window(std::chrono::milliseconds grace);
  int port_;
  std::mutex mu_;
  std::vector<Sample> samples_;
  SteadyClock::time_point begin_{}, end_{};
  std::atomic<bool> quit_{false};
  std::thread thread_;
};

// One row of the results table (docs/faults.md), appended as a JSON line to
// $PGTRICKLE_TEST_WORK_DIR/faults.jsonl when that variable is set.
struct FaultResult {
  std::string fault, backend, direction;
  long long sent = 0, delivered = 0, lost = 0, duplicates = 0;
  double recover_seconds = -1;
  std::string health;
};
void record(const FaultResult& r);

// What arrived at a broker for rows 1..sent of a forward pipeline, read with an independent client.
struct ForwardCheck {
  long long distinct = 0, duplicates = 0;
  std::vector<int> missing;
  bool one_identity_per_row = true;  // a copy always carries the identity of the first
  bool in_order = true;              // first arrivals in row order
};
ForwardCheck check_forward(const std::vector<Delivered>& got, int sent);

// A libpq connection string's query run on a fresh connection ("" on error): for polling a
// database that may be restarting.
std::string query_value(const std::string& url, const std::string& sql);
// Runs `sql` on a fresh connection, again until it succeeds, for up to a minute (the database may
// be restarting); fails the test (naming `what`) if it never did.
void exec_until_done(const std::string& url, const std::string& sql, const std::string& what);

// The relay's counter `name` (e.g. pgtrickle_relay_messages_delivered_total) for `pipeline`.
double counter(int admin_port, const std::string& name, const std::string& pipeline);

// Seconds since `t`.
double seconds_since(SteadyClock::time_point t);

}  // namespace relay::test
