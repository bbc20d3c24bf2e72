#include "console/history.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/thread_name.h"

namespace relay::console {

History::History(pg::ConnectionPool& pool) : pool_(pool) {
  thread_ = std::thread([this] { loop(); });
}

History::~History() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void History::loop() {
  util::name_this_thread("console-plots");
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    sample();
    lock.lock();
    wake_.wait_for(lock, kEvery, [this] { return stopping_; });
  }
}

void History::sample() {
  auto lease = pool_.borrow(pg::PooledSession::kWait);
  if (!lease) return;
  // The freshest row of each pipeline (a pipeline of two relay groups has one per group).
  auto r = (*lease)->exec(
      "SELECT DISTINCT ON (pipeline) pipeline, extract(epoch FROM now())::bigint, coalesce(lag_rows, -1), "
      "coalesce(lag_seconds, -1), coalesce(delivered, -1) FROM pgtrickle.relay_pipeline_status "
      "WHERE heartbeat_at > now() - interval '30 seconds' ORDER BY pipeline, heartbeat_at DESC");
  if (!r) {
    log_.debug("Could not read the pipelines' status for the console's plots.", {{"error", r.error().message}});
    return;
  }
  for (int i = 0; i < r->rows(); ++i)
    add(r->str(i, 0), {r->int64(i, 1), r->int64(i, 2), static_cast<float>(std::stod(r->str(i, 3))), r->int64(i, 4)});
  // A pipeline gone for an hour (deleted, or no relay runs it) is forgotten.
  std::lock_guard lock(mu_);
  const std::int64_t hour_ago = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() - 3600;
  std::erase_if(samples_, [&](const auto& kv) { return kv.second.empty() || kv.second.back().at < hour_ago; });
}

void History::add(const std::string& pipeline, const Sample& s) {
  std::lock_guard lock(mu_);
  auto& q = samples_[pipeline];
  q.push_back(s);
  while (q.size() > kKept) q.pop_front();
}

std::string History::json(const std::string& pipeline) {
  std::lock_guard lock(mu_);
  nlohmann::json out = nlohmann::json::array();
  auto it = samples_.find(pipeline);
  if (it == samples_.end()) return out.dump();
  const Sample* before = nullptr;
  for (const auto& s : it->second) {
    nlohmann::json rate;  // null: unknown, or the count started again (another owner)
    if (before && before->delivered >= 0 && s.delivered >= before->delivered && s.at > before->at)
      rate = static_cast<double>(s.delivered - before->delivered) / static_cast<double>(s.at - before->at);
    out.push_back({{"at", s.at}, {"lag", s.lag >= 0 ? nlohmann::json(s.lag) : nlohmann::json()},
                   {"lag_seconds", s.lag_seconds >= 0 ? nlohmann::json(s.lag_seconds) : nlohmann::json()}, {"rate", rate}});
    before = &s;
  }
  return out.dump();
}

}  // namespace relay::console
