// Which relay of a relay group runs which pipeline.
//
// Each relay keeps one "lease" session open to the database. It holds a session-level advisory lock
// per pipeline the relay owns, plus a shared "member" lock that lets every relay count the relays
// of its group. The session is pinged well within `lease_timeout` and runs with
// idle_session_timeout = lease_timeout, so the locks go away when the relay dies (kill -9: at once)
// or stalls (kill -STOP, a frozen VM: after lease_timeout), and a standby takes the pipeline over.
//
// A stalled owner that wakes up must not move a position past its successor's. Taking a pipeline
// bumps its epoch in pgtrickle.relay_owners (a fencing token) while the lock is held; every
// position stored and every source ack is fenced by the epoch still being this relay's — checked by
// the database, in the statement (or just before the ack). An index lookup, where asking pg_locks
// would scan the server's whole lock table on every batch.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "log/log.h"
#include "pg/connection.h"

namespace relay {

// The advisory lock key of a pipeline within a relay group (64-bit FNV-1a, computed client-side so
// it does not depend on the server's hash functions).
long long ownership_lock_key(const std::string& relay_group_id, const std::string& pipeline);

// SQL boolean expressions, true while the epoch this relay took a pipeline with is still current.
struct Fence {
  std::string check_sql;  // a plain read: whether this relay still owns the pipeline
  std::string guard_sql;  // inside a statement that stores a position: also holds off a takeover until it commits
};

class Ownership {
 public:
  Ownership(std::string postgres_url, std::string relay_group_id, std::string worker_id, std::chrono::milliseconds lease_timeout);
  ~Ownership();
  Ownership(const Ownership&) = delete;
  Ownership& operator=(const Ownership&) = delete;

  // Takes the pipeline if no relay of the group holds it (and bumps its epoch); returns its fence, or nothing.
  std::optional<Fence> try_take(const std::string& pipeline);
  // Gives the pipeline up (a standby may take it at once).
  void release(const std::string& pipeline);

  // Whether this relay still believes it holds the pipeline (no database round trip; the fence is
  // the authority).
  bool holds(const std::string& pipeline) const;

  static Fence fence(const std::string& relay_group_id, const std::string& pipeline, long long epoch);

  // Balancing: the pipelines this relay knows of, and whether it holds more or fewer than its share
  // (pipelines / relays in the group, rounded up).
  void set_pipeline_count(size_t n) { pipelines_ = n; }
  bool below_share() const;
  bool above_share() const;
  int members() const { return members_.load(); }
  size_t owned() const;
  std::chrono::milliseconds lease_timeout() const { return lease_timeout_; }

 private:
  bool connect_locked();
  void drop_session_locked(const std::string& why);
  void heartbeat_loop();

  const std::string url_, group_, worker_id_;
  const std::chrono::milliseconds lease_timeout_;
  log::Logger log_{"ownership"};
  mutable std::mutex mu_;
  std::optional<pg::Connection> session_;
  int session_pid_ = 0;
  bool connect_warned_ = false;
  std::string take_error_;  // the last failure to record an epoch, logged once
  std::set<std::string> held_;
  std::atomic<int> members_{1};
  std::atomic<size_t> pipelines_{0};
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread heartbeat_;
};

}  // namespace relay
