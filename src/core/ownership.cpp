#include "core/ownership.h"

#include <fmt/format.h>

#include <algorithm>

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

long long member_key(const std::string& group) { return static_cast<long long>(fnv1a({"pgtrickle-relay member", group})); }

}  // namespace

long long ownership_lock_key(const std::string& group, const std::string& pipeline) {
  return static_cast<long long>(fnv1a({"pgtrickle-relay", group, pipeline}));
}

Fence Ownership::fence(const std::string& relay_group_id, const std::string& pipeline, long long epoch) {
  std::string current = fmt::format("SELECT 1 FROM pgtrickle.relay_owners WHERE relay_group_id = {} AND pipeline = {} AND epoch = {}",
                                    pg::quote_literal(relay_group_id), pg::quote_literal(pipeline), epoch);
  // FOR SHARE: a relay taking over bumps the epoch with an UPDATE, which waits for this statement's
  // transaction; a statement that starts after the bump sees the new epoch and stores nothing.
  return {"EXISTS (" + current + ")", "EXISTS (" + current + " FOR SHARE)"};
}

Ownership::Ownership(std::string postgres_url, std::string relay_group_id, std::string worker_id, std::chrono::milliseconds lease_timeout)
    : url_(std::move(postgres_url)), group_(std::move(relay_group_id)), worker_id_(std::move(worker_id)), lease_timeout_(lease_timeout) {
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
  auto c = pg::Connection::open(url_, "pgtrickle-relay lease " + group_);
  if (!c) {
    if (!connect_warned_) log_.warn("Cannot open the lease session; no pipeline can be taken until it works.", {{"error", c.error().message}});
    connect_warned_ = true;
    return false;
  }
  connect_warned_ = false;
  // The server ends this session, and so frees its locks, when the relay stops pinging it.
  auto set = c->exec(fmt::format("SELECT set_config('idle_session_timeout', '{}', false), pg_backend_pid(), "
                                 "pg_try_advisory_lock_shared({})",
                                 lease_timeout_.count(), member_key(group_)));
  if (!set) {
    log_.warn("Cannot prepare the lease session.", {{"error", set.error().message}});
    return false;
  }
  session_pid_ = static_cast<int>(set->int64(0, 1));
  session_ = std::move(*c);
  log_.debug("Lease session open.", {{"pid", std::to_string(session_pid_)}});
  return true;
}

void Ownership::drop_session_locked(const std::string& why) {
  if (!held_.empty())
    log_.error("The lease session was lost; the pipelines this relay owned may already run elsewhere and are given up.",
               {{"error", why}, {"pipelines", std::to_string(held_.size())}});
  held_.clear();
  session_.reset();
  session_pid_ = 0;
}

void Ownership::heartbeat_loop() {
  auto every = std::max(std::chrono::milliseconds(100), lease_timeout_ / 4);
  std::string members_sql = "SELECT count(*) FROM pg_catalog.pg_locks WHERE mode = 'ShareLock' AND " + lock_row_sql(member_key(group_));
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!session_) connect_locked();
    if (session_) {
      // The ping that keeps the lease, and the count of relays in the group.
      auto r = session_->exec(members_sql);
      if (r) members_ = std::max<int>(1, static_cast<int>(r->int64(0, 0)));
      else drop_session_locked(r.error().message);
    }
    stop_cv_.wait_for(lock, session_ ? every : std::chrono::milliseconds(1000), [&] { return stopping_; });
  }
}

std::optional<Fence> Ownership::try_take(const std::string& pipeline) {
  std::lock_guard lock(mu_);
  if (!session_ && !connect_locked()) return std::nullopt;
  long long key = ownership_lock_key(group_, pipeline);
  auto r = session_->exec(fmt::format("SELECT pg_try_advisory_lock({})", key));
  if (!r) {
    drop_session_locked(r.error().message);
    return std::nullopt;
  }
  if (!r->boolean(0, 0)) return std::nullopt;
  // The new epoch fences off whichever relay owned the pipeline before (it may only be stalled).
  auto e = session_->exec(
      "INSERT INTO pgtrickle.relay_owners AS o (relay_group_id, pipeline, epoch, worker_id, taken_at) VALUES ($1, $2, 1, $3, now()) "
      "ON CONFLICT (relay_group_id, pipeline) DO UPDATE SET epoch = o.epoch + 1, worker_id = excluded.worker_id, taken_at = now() "
      "RETURNING epoch",
      {group_, pipeline, worker_id_});
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
  held_.insert(pipeline);
  return fence(group_, pipeline, e->int64(0, 0));
}

void Ownership::release(const std::string& pipeline) {
  std::lock_guard lock(mu_);
  if (!held_.erase(pipeline) || !session_) return;
  auto r = session_->exec(fmt::format("SELECT pg_advisory_unlock({})", ownership_lock_key(group_, pipeline)));
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

bool Ownership::below_share() const {
  size_t relays = static_cast<size_t>(std::max(1, members_.load()));
  size_t share = (pipelines_.load() + relays - 1) / relays;
  return owned() < share;
}

bool Ownership::above_share() const {
  size_t relays = static_cast<size_t>(std::max(1, members_.load()));
  size_t share = (pipelines_.load() + relays - 1) / relays;
  return owned() > share;
}

}  // namespace relay
