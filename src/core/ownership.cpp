#include "core/ownership.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/json_escape.h"
#include "util/thread_name.h"

namespace relay {

namespace {

std::uint64_t fnv1a(std::initializer_list<std::string_view> parts) {
  std::uint64_t h = 14695981039346656037ull;
  for (auto s : parts) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;  // separator that cannot occur in UTF-8 text
    h *= 1099511628211ull;
  }
  return h;
}

// pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
std::string lock_row_sql(long long key) {
  auto k = static_cast<std::uint64_t>(key);
  // Advisory locks belong to a database: relays of the same group name in other databases of the
  // server are not ours.
  return fmt::format("locktype = 'advisory' AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = "
                     "pg_catalog.current_database()) AND classid = '{}'::oid AND objid = '{}'::oid AND objsubid = 1 AND granted",
                     k >> 32, k & 0xffffffffu);
}

// Marks a session as a relay's lease session, whatever its group.
long long member_key() { return static_cast<long long>(fnv1a({"pgtrickle-relay member"})); }

}  // namespace

long long ownership_lock_key(const std::string& group, const std::string& pipeline) {
  return static_cast<long long>(fnv1a({"pgtrickle-relay", group, pipeline}));
}

long long candidate_lock_key(const std::string& group, const std::string& pipeline) {
  return static_cast<long long>(fnv1a({"pgtrickle-relay candidate", group, pipeline}));
}

Fence Ownership::fence(const std::string& relay_group_id, const std::string& pipeline, long long epoch) {
  return {relay_group_id, pipeline, epoch};
}

Ownership::Ownership(std::string postgres_url, std::string worker_id, std::chrono::milliseconds lease_timeout)
    : url_(std::move(postgres_url)), worker_id_(std::move(worker_id)), lease_timeout_(lease_timeout) {
  heartbeat_ = std::thread([this] { heartbeat_loop(); });
}

Ownership::~Ownership() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  heartbeat_.join();
  // Closing the session releases every lock this relay still holds.
}

bool Ownership::connect_locked() {
  auto c = pg::Connection::open(url_, "pgtrickle-relay lease");
  if (!c) {
    if (!connect_warned_) log_.warn("Cannot open the lease session; no pipeline can be taken until it works.", {{"error", c.error().message}});
    connect_warned_ = true;
    return false;
  }
  connect_warned_ = false;
  // The server ends this session, and so frees its locks, when the relay stops pinging it.
  // Its epoch bumps commit without waiting for the WAL flush (a standby taking a thousand
  // pipelines waits for no thousand flushes): the bump is seen at once by every session, and the
  // positions a new owner stores commit durably after it, so a crash that loses the bump loses
  // them too, and every lock with it.
  auto set = c->exec(fmt::format("SELECT set_config('idle_session_timeout', '{}', false), "
                                 "set_config('synchronous_commit', 'off', false), pg_backend_pid(), "
                                 "pg_try_advisory_lock_shared({})",
                                 lease_timeout_.count(), member_key()));
  if (!set) {
    log_.warn("Cannot prepare the lease session.", {{"error", set.error().message}});
    return false;
  }
  session_pid_ = static_cast<int>(set->int64(0, 2));
  session_ = std::move(*c);
  advertised_.clear();
  log_.debug("Lease session open.", {{"pid", std::to_string(session_pid_)}});
  return true;
}

void Ownership::drop_session_locked(const std::string& why) {
  if (!held_.empty())
    log_.error("The lease session was lost; the pipelines this relay owned may already run elsewhere and are given up.",
               {{"error", why}, {"pipelines", std::to_string(held_.size())}});
  held_.clear();
  advertised_.clear();
  load_.clear();
  candidate_holders_.clear();
  owner_of_.clear();
  session_.reset();
  session_pid_ = 0;
}

// Takes the candidate locks of pipelines this relay can run now and drops the others.
bool Ownership::sync_candidates_locked() {
  std::set<long long> want;
  for (const auto& [pipeline, group] : candidates_) want.insert(candidate_lock_key(group, pipeline));
  std::string take, drop;
  for (long long k : want)
    if (!advertised_.count(k)) take += (take.empty() ? "" : ",") + std::to_string(k);
  for (long long k : advertised_)
    if (!want.count(k)) drop += (drop.empty() ? "" : ",") + std::to_string(k);
  if (take.empty() && drop.empty()) return true;
  auto r = session_->exec(fmt::format("SELECT (SELECT count(pg_try_advisory_lock_shared(k)) FROM unnest('{{{}}}'::bigint[]) AS k), "
                                      "(SELECT count(pg_advisory_unlock_shared(k)) FROM unnest('{{{}}}'::bigint[]) AS k)",
                                      take, drop));
  if (!r) {
    drop_session_locked(r.error().message);
    return false;
  }
  advertised_ = std::move(want);
  return true;
}

// The ping that keeps the lease, and the lock table of every relay's lease session. The relays'
// sessions are found first, once (an array): as a join, the lock table would be read again for
// each of the thousands of locks a relay with many pipelines holds.
bool Ownership::read_locks_locked() {
  static const std::string sql = fmt::format(
      "SELECT l.pid, l.mode = 'ExclusiveLock', (l.classid::bigint << 32) | l.objid::bigint FROM pg_catalog.pg_locks AS l "
      "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted "
      "AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) "
      "AND l.pid = ANY (ARRAY(SELECT m.pid FROM pg_catalog.pg_locks AS m WHERE m.mode = 'ShareLock' AND {}))",
      lock_row_sql(member_key()));
  auto r = session_->exec(sql);
  if (!r) {
    drop_session_locked(r.error().message);
    return false;
  }
  load_.clear();
  candidate_holders_.clear();
  owner_of_.clear();
  for (int i = 0; i < r->rows(); ++i) {
    int pid = static_cast<int>(r->int64(i, 0));
    long long key = r->int64(i, 2);
    load_[pid] += 0;
    if (r->boolean(i, 1)) {
      ++load_[pid];
      owner_of_[key] = pid;
    } else if (key != member_key()) {
      candidate_holders_[key].push_back(pid);
    }
  }
  return true;
}

// Another relay took a pipeline this one holds (its epoch moved on: a stalled relay whose lock went
// with its session, say): given up. One statement for all the pipelines held; a pipeline's acks
// check their fence themselves.
void Ownership::check_epochs_locked() {
  if (held_.empty()) return;
  std::string held = "[";
  for (const auto& [pipeline, h] : held_) {
    if (held.size() > 1) held += ',';
    held += "{\"g\":";
    util::append_json_string(held, h.group);
    held += ",\"p\":";
    util::append_json_string(held, pipeline);
    held += fmt::format(",\"e\":{}}}", h.epoch);
  }
  held += ']';
  auto r = session_->exec(
      "SELECT h.p FROM jsonb_to_recordset($1::jsonb) AS h(g text, p text, e bigint) WHERE NOT EXISTS "
      "(SELECT 1 FROM pgtrickle.relay_owners AS o WHERE o.relay_group_id = h.g AND o.pipeline = h.p AND o.epoch = h.e)",
      {held});
  if (!r) {
    drop_session_locked(r.error().message);
    return;
  }
  for (int i = 0; i < r->rows(); ++i) {
    auto it = held_.find(r->str(i, 0));
    if (it == held_.end()) continue;
    log_.error("Another relay took the pipeline (its epoch moved on); this relay gives it up.", {{"pipeline", it->first}});
    const long long key = it->second.key;
    held_.erase(it);
    if (!session_->exec(fmt::format("SELECT pg_advisory_unlock({})", key))) {
      drop_session_locked("cannot release an ownership lock");
      return;
    }
  }
}

void Ownership::heartbeat_loop() {
  util::name_this_thread("lease");
  auto every = std::max(std::chrono::milliseconds(100), lease_timeout_ / 4);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!session_) connect_locked();
    if (session_ && sync_candidates_locked() && read_locks_locked() && std::chrono::steady_clock::now() >= next_epoch_check_) {
      next_epoch_check_ = std::chrono::steady_clock::now() + kEpochCheckEvery;
      check_epochs_locked();
    }
    stop_cv_.wait_for(lock, session_ ? every : std::chrono::milliseconds(1000), [&] { return stopping_; });
  }
}

std::optional<Fence> Ownership::try_take(const std::string& group, const std::string& pipeline) {
  std::lock_guard lock(mu_);
  if (!session_ && !connect_locked()) return std::nullopt;
  long long key = ownership_lock_key(group, pipeline);
  auto r = session_->exec(fmt::format("SELECT pg_try_advisory_lock({})", key));
  if (!r) {
    drop_session_locked(r.error().message);
    return std::nullopt;
  }
  if (!r->boolean(0, 0)) {
    auto seen = relay_holder_seen_.find(pipeline);
    if (seen == relay_holder_seen_.end() || std::chrono::steady_clock::now() - seen->second > std::chrono::seconds(30))
      note_holder_locked(pipeline, key);
    return std::nullopt;
  }
  strangers_.erase(pipeline);
  relay_holder_seen_.erase(pipeline);
  // The new epoch fences off whichever relay owned the pipeline before (it may only be stalled).
  auto e = session_->exec(
      "INSERT INTO pgtrickle.relay_owners AS o (relay_group_id, pipeline, epoch, worker_id, taken_at) VALUES ($1, $2, 1, $3, now()) "
      "ON CONFLICT (relay_group_id, pipeline) DO UPDATE SET epoch = o.epoch + 1, worker_id = excluded.worker_id, taken_at = now() "
      "RETURNING epoch",
      {group, pipeline, worker_id_});
  if (!e) {
    std::string why = e.error().message;
    if (why.find("relay_owners") != std::string::npos && why.find("does not exist") != std::string::npos)
      why += "; this database has an older SQL install: run `pgtrickle-relay install` again";
    if (why != take_error_)  // said once, not at every retry
      log_.error("Cannot record ownership of the pipeline; leaving it to another relay.", {{"pipeline", pipeline}, {"error", why}});
    take_error_ = why;
    if (!session_->exec(fmt::format("SELECT pg_advisory_unlock({})", key))) drop_session_locked(why);
    return std::nullopt;
  }
  take_error_.clear();
  held_[pipeline] = {key, group, e->int64(0, 0)};
  return fence(group, pipeline, e->int64(0, 0));
}

// A relay's session logs in as a member of pgtrickle_relay (a superuser is one too); any other
// holder of the key is a stranger, which no relay can displace: named in the log and on /health.
void Ownership::note_holder_locked(const std::string& pipeline, long long key) {
  auto r = session_->exec(fmt::format(
      "SELECT l.pid, coalesce(a.usename::text, '?'), coalesce(a.application_name, ''), "
      "coalesce(pg_catalog.pg_has_role(a.usesysid, 'pgtrickle_relay', 'MEMBER'), false) "
      "FROM pg_catalog.pg_locks AS l LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid "
      "WHERE l.mode = 'ExclusiveLock' AND {}",
      lock_row_sql(key)));
  if (!r) {
    drop_session_locked(r.error().message);
    return;
  }
  if (r->rows() == 0 || r->boolean(0, 3)) {
    strangers_.erase(pipeline);
    if (r->rows() > 0) relay_holder_seen_[pipeline] = std::chrono::steady_clock::now();
    return;
  }
  relay_holder_seen_.erase(pipeline);
  std::string who = fmt::format("pid {} (role {}, application name '{}')", r->str(0, 0), r->str(0, 1), r->str(0, 2));
  std::string said = fmt::format(
      "the pipeline's ownership lock is held by {}, a session that is not a relay's (its role is not a member of "
      "pgtrickle_relay), so no relay can run the pipeline; end that session: SELECT pg_terminate_backend({}) (as a "
      "superuser or a member of pg_signal_backend), and keep such logins out of this database (REVOKE CONNECT)",
      who, r->str(0, 0));
  if (strangers_[pipeline] != said)
    log_.error("A session that is not a relay holds the pipeline's ownership lock.", {{"pipeline", pipeline}, {"holder", who}});
  strangers_[pipeline] = said;
}

std::string Ownership::held_by_stranger(const std::string& pipeline) const {
  std::lock_guard lock(mu_);
  auto it = strangers_.find(pipeline);
  return it == strangers_.end() ? std::string() : it->second;
}

void Ownership::release(const std::string& pipeline) {
  std::lock_guard lock(mu_);
  auto it = held_.find(pipeline);
  if (it == held_.end()) return;
  long long key = it->second.key;
  held_.erase(it);
  if (!session_) return;
  auto r = session_->exec(fmt::format("SELECT pg_advisory_unlock({})", key));
  if (!r) drop_session_locked(r.error().message);
}

bool Ownership::holds(const std::string& pipeline) const {
  std::lock_guard lock(mu_);
  return held_.count(pipeline) > 0;
}

size_t Ownership::owned() const {
  std::lock_guard lock(mu_);
  return held_.size();
}

void Ownership::advertise(const std::string& group, const std::string& pipeline) {
  std::lock_guard lock(mu_);
  candidates_[pipeline] = group;
}

void Ownership::withdraw(const std::string& pipeline) {
  std::lock_guard lock(mu_);
  candidates_.erase(pipeline);
}

std::optional<std::string> Ownership::pipeline_to_hand_over() const {
  std::lock_guard lock(mu_);
  if (!session_) return std::nullopt;
  const int mine = static_cast<int>(held_.size());
  std::optional<std::string> best;
  int best_load = mine - 1;  // a taker must own at least two fewer
  for (const auto& [pipeline, unused] : held_) {
    auto c = candidates_.find(pipeline);
    if (c == candidates_.end()) continue;
    auto holders = candidate_holders_.find(candidate_lock_key(c->second, pipeline));
    if (holders == candidate_holders_.end()) continue;
    for (int pid : holders->second) {
      if (pid == session_pid_) continue;
      auto l = load_.find(pid);
      int load = l == load_.end() ? 0 : l->second;
      if (load < best_load) {
        best_load = load;
        best = pipeline;
      }
    }
  }
  return best;
}

bool Ownership::first_in_line(const std::string& pipeline) const {
  std::lock_guard lock(mu_);
  auto c = candidates_.find(pipeline);
  if (!session_ || c == candidates_.end()) return false;
  const int mine = static_cast<int>(held_.size());
  auto holders = candidate_holders_.find(candidate_lock_key(c->second, pipeline));
  if (holders == candidate_holders_.end()) return true;
  // The session that owned it as of the last ping is gone or handing it over: not in line.
  auto o = owner_of_.find(ownership_lock_key(c->second, pipeline));
  int owner = o == owner_of_.end() ? 0 : o->second;
  for (int pid : holders->second) {
    if (pid == session_pid_ || pid == owner) continue;
    auto l = load_.find(pid);
    int load = l == load_.end() ? 0 : l->second;
    if (load < mine || (load == mine && pid < session_pid_)) return false;
  }
  return true;
}

}  // namespace relay
