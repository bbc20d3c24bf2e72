// The pipelines' rows of pgtrickle.relay_pipeline_status (what list_relay_configs() shows), written
// for all of a relay's pipelines in one statement per round: each write ends a transaction, and each
// transaction that ends sends every outbox reader's next numbering round through its outboxes, so
// a write per pipeline would keep an idle database busy. A row is written when what it says changed,
// else every 15 s to keep its heartbeat fresh (a row older than 30 s counts as gone). The relay's
// own row of pgtrickle.relay_instances (write_instance) is kept as fresh, so a standby shows too.
#pragma once

#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "log/log.h"
#include "pg/connection_pool.h"

namespace relay {

class StatusWriter {
 public:
  struct Row {
    std::string relay_group_id, pipeline, owner;
    long long owner_since = 0;  // Unix seconds
    std::string state;
    std::optional<long long> lag_rows;
    std::optional<double> lag_seconds;
    std::optional<std::string> last_error;
    std::string origin, direction;
    // Messages delivered since the relay took the pipeline: written with whatever else the row
    // says, never a reason of its own to write it (a steady flow would rewrite every row each round).
    std::uint64_t delivered = 0;
  };
  // This relay, as every row it writes names it, and as its own row of pgtrickle.relay_instances
  // (written at every heartbeat, pipelines or none) says.
  struct Relay {
    std::string version;
    double started_at = 0;  // Unix seconds
    std::string relay_group_id, worker_id;
  };

  StatusWriter(pg::ConnectionPool& pool, std::chrono::milliseconds round, Relay relay);
  ~StatusWriter();  // stops; what is pending goes unwritten (each pipeline was marked stopped as it ended)
  StatusWriter(const StatusWriter&) = delete;
  StatusWriter& operator=(const StatusWriter&) = delete;

  // The pipeline's row as it stands now: written in the next round if it changed.
  void put(Row row);
  // The pipeline is no longer this relay's: nothing pending for it is written any more.
  void forget(const std::string& relay_group_id, const std::string& pipeline);
  // This relay's own row, on a session it already holds (its control session: a standby opens no
  // other), every kHeartbeat; one caller at a time.
  void write_instance(pg::Connection& c);

  static constexpr std::chrono::seconds kHeartbeat{15};

 private:
  using Key = std::pair<std::string, std::string>;  // (relay group, pipeline)
  struct Entry {
    Row row;
    std::string written;  // what the row said when last written ("" never)
  };
  void loop();
  void write_round();

  pg::ConnectionPool& pool_;
  const std::chrono::milliseconds round_;
  const Relay relay_;
  bool before_columns_ = false;    // the install lacks the newer columns: the statement of before is written
  bool before_instances_ = false;  // the install lacks pgtrickle.relay_instances (write_instance's caller alone)
  log::Logger log_{"status"};
  std::mutex mu_;
  std::mutex write_mu_;  // held while a round writes: forget() waits for it
  // Every row's heartbeat goes in one round each kHeartbeat: the relay writes nothing in between
  // while nothing changes (a write anywhere makes the next numbering round scan every outbox).
  std::chrono::steady_clock::time_point heartbeat_at_{};
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<Key, Entry> rows_;
  std::thread thread_;
};

}  // namespace relay
