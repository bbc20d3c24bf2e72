// Which relay of a relay group runs which pipeline.
//
// Each relay keeps one "lease" session open to the database. It holds a session-level advisory lock
// per pipeline the relay owns, a shared "candidate" lock per pipeline it could run, and a shared
// "member" lock that marks the session as a relay's. The session is pinged well within `lease_timeout` and runs with
// idle_session_timeout = lease_timeout, so the locks go away when the relay dies (kill -9: at once)
// or stalls (kill -STOP, a frozen VM: after lease_timeout), and a standby takes the pipeline over.
//
// Balancing reads those locks: a relay's load is the number of pipelines it owns, and the relays
// that could take a pipeline are the holders of its candidate lock. A relay hands a pipeline over
// only to a live relay that can run it and owns at least two fewer, so every move evens the load out
// and a balanced group moves nothing.
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
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "log/log.h"
#include "pg/connection.h"

namespace relay {

// The advisory lock key of a pipeline within a relay group (64-bit FNV-1a, computed client-side so
// it does not depend on the server's hash functions).
long long ownership_lock_key(const std::string& relay_group_id, const std::string& pipeline);
// The shared lock a relay holds on every pipeline it could run.
long long candidate_lock_key(const std::string& relay_group_id, const std::string& pipeline);

// The epoch this relay took a pipeline with. A statement that stores a position checks the epoch
// itself, as a parameter, and holds off a takeover until it commits (FOR SHARE on the owner's row:
// change_source.cpp).
struct Fence {
  // A plain read, whether this relay still owns the pipeline: the same text for every pipeline (one
  // prepared statement per pooled connection), with params().
  static constexpr const char* kCheckSql =
      "SELECT EXISTS (SELECT 1 FROM pgtrickle.relay_owners WHERE relay_group_id = $1 AND pipeline = $2 AND epoch = $3::bigint)";
  std::string relay_group_id, pipeline;
  long long epoch = 0;
  std::vector<std::optional<std::string>> params() const { return {relay_group_id, pipeline, std::to_string(epoch)}; }
};

class Ownership {
 public:
  Ownership(std::string postgres_url, std::string worker_id, std::chrono::milliseconds lease_timeout);
  ~Ownership();
  Ownership(const Ownership&) = delete;
  Ownership& operator=(const Ownership&) = delete;

  // Takes the pipeline of relay group `group` if no relay holds it (and bumps its epoch); returns
  // its fence, or nothing.
  std::optional<Fence> try_take(const std::string& group, const std::string& pipeline);
  // Gives the pipeline up (a standby may take it at once).
  void release(const std::string& pipeline);

  // When a session that is not a relay's holds the pipeline's ownership lock (any login may take an
  // advisory lock whose key it knows): who it is and the way out, as of the last try_take; empty
  // while the pipeline is free or held by a relay.
  std::string held_by_stranger(const std::string& pipeline) const;

  // Whether this relay still believes it holds the pipeline (no database round trip; the fence is
  // the authority).
  bool holds(const std::string& pipeline) const;

  static Fence fence(const std::string& relay_group_id, const std::string& pipeline, long long epoch);

  // Tells the other relays that this one can (or no longer can) run the pipeline; the lease session
  // takes or drops the candidate lock at its next ping.
  void advertise(const std::string& group, const std::string& pipeline);
  void withdraw(const std::string& pipeline);

  // Balancing, from the lock table as of the last ping. A pipeline this relay owns that a live relay
  // able to run it, owning at least two fewer, could take; nothing in a balanced group.
  std::optional<std::string> pipeline_to_hand_over() const;
  // Whether this relay should be the one to take a free pipeline: no other relay that can run it
  // owns fewer (ties go to the lower session pid).
  bool first_in_line(const std::string& pipeline) const;
  size_t owned() const;
  std::chrono::milliseconds lease_timeout() const { return lease_timeout_; }

 private:
  bool connect_locked();
  void drop_session_locked(const std::string& why);
  void heartbeat_loop();
  bool sync_candidates_locked();
  bool read_locks_locked();
  void check_epochs_locked();
  void note_holder_locked(const std::string& pipeline, long long key);

  const std::string url_, worker_id_;
  const std::chrono::milliseconds lease_timeout_;
  log::Logger log_{"ownership"};
  mutable std::mutex mu_;
  std::optional<pg::Connection> session_;
  int session_pid_ = 0;
  bool connect_warned_ = false;
  std::string take_error_;  // the last failure to record an epoch, logged once
  struct Held {
    long long key;  // its ownership lock
    std::string group;
    long long epoch;
  };
  std::map<std::string, Held> held_;  // the pipelines this relay owns
  static constexpr auto kEpochCheckEvery = std::chrono::seconds(5);
  std::chrono::steady_clock::time_point next_epoch_check_{};
  std::map<std::string, std::string> candidates_;  // pipeline -> group: what this relay can run
  std::set<long long> advertised_;                 // candidate locks the session holds
  // The lock table as of the last ping: pipelines owned per relay session, and the sessions that
  // hold each candidate lock.
  std::map<int, int> load_;
  std::map<long long, std::vector<int>> candidate_holders_;
  std::map<long long, int> owner_of_;  // ownership lock key -> session
  std::map<std::string, std::string> strangers_;  // pipeline -> the session not a relay's holding it
  // When each pipeline's lock was last found held by a relay: a standby trying again meanwhile does
  // not look the holder up again (a look at pg_locks costs what every lock held costs).
  std::map<std::string, std::chrono::steady_clock::time_point> relay_holder_seen_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread heartbeat_;
};

}  // namespace relay
