#include "core/supervisor.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/backoff.h"
#include "relay/message.h"
#include "pg/catalog.h"
#include "util/memory.h"
#include "util/strings.h"

namespace relay {

Supervisor::Supervisor(RelayContext& relay, std::optional<std::string> config_path)
    : relay_(relay), config_path_(std::move(config_path)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Supervisor::~Supervisor() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Supervisor::request_stop() {
  stop_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void Supervisor::request_reload() {
  reload_requested_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void Supervisor::wait(std::chrono::milliseconds d, bool wake_on_notify) {
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {control_socket_, POLLIN, 0}};
  ::poll(fds, wake_on_notify && control_socket_ >= 0 ? 2 : 1, static_cast<int>(d.count()));
  if (fds[0].revents & POLLIN) {  // a reload request was seen (a stop ends the loop anyway)
    std::uint64_t count = 0;
    [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
  }
}

bool Supervisor::load_file(std::vector<PipelineConfig>& out) {
  if (!config_path_) return false;
  struct stat st {};
  if (::stat(config_path_->c_str(), &st) != 0) return false;
  long long mtime = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  bool changed = mtime != file_mtime_ || force_file_reload_;
  force_file_reload_ = false;
  if (changed) {
    file_mtime_ = mtime;
    std::vector<std::string> problems;
    auto cfg = load_config_file(*config_path_, problems);
    if (!problems.empty()) {
      // A broken edit keeps the pipelines of the last good file running.
      for (const auto& p : problems) log_.error("The config file has a problem; keeping the previous pipelines.", {{"problem", p}});
      relay_.health->set_config_error(util::safe_excerpt(*config_path_ + ": " + util::join(problems, "; "), 2000));
    } else {
      relay_.health->set_config_error("");
      file_pipelines_ = std::move(cfg.pipelines);
      log_.info("Loaded the config file.", {{"path", *config_path_}, {"pipelines", std::to_string(file_pipelines_.size())}});
    }
  }
  out.insert(out.end(), file_pipelines_.begin(), file_pipelines_.end());
  return changed;
}

void Supervisor::reconcile(std::vector<PipelineConfig> desired) {
  std::map<std::string, PipelineConfig> want;
  std::set<std::string> known;                 // every pipeline that exists, enabled or not
  std::map<std::string, int> other_groups;     // pipelines assigned to other relay groups
  for (auto& c : desired) {
    std::string name = c.name;
    if (known.count(name) && c.origin != "sql") {
      log_.error("Two pipelines share a name; the config file's one is ignored.", {{"pipeline", name}});
      continue;
    }
    known.insert(name);
    if (!c.runs_in(relay_.relay_group_id)) {
      if (c.origin != "sql")
        log_.error("A pipeline of the config file is assigned to another relay group; this relay does not run it.",
                   {{"pipeline", name}, {"relay_group", c.relay_group}, {"relay_group_id", relay_.relay_group_id}});
      else if (c.enabled)
        ++other_groups[c.relay_group];
      continue;
    }
    if (!c.enabled) continue;
    want.emplace(name, std::move(c));
  }
  // A relay whose group runs nothing says so, and where the pipelines are.
  std::string groups;
  for (const auto& [g, n] : other_groups) groups += fmt::format("{}{} ({})", groups.empty() ? "" : ", ", g, n);
  if (want.empty() && !groups.empty() && groups != reported_groups_)
    log_.warn("No pipeline runs in this relay's group; the pipelines are assigned to other relay groups.",
              {{"relay_group_id", relay_.relay_group_id}, {"groups", groups}});
  reported_groups_ = want.empty() ? groups : "";
  // Stop what is gone or changed (each drains its batch), then start what is new or changed.
  for (auto it = runners_.begin(); it != runners_.end();) {
    auto w = want.find(it->first);
    if (w != want.end() && w->second.same_as(it->second->config())) {
      ++it;
      continue;
    }
    log_.info(w == want.end() ? "Stopping a pipeline that was disabled or deleted." : "Restarting a pipeline whose configuration changed.",
              {{"pipeline", it->first}});
    // A delivery failing now is not retried: the new config (a fixed address, another sink) takes
    // the batch over at once.
    it->second->request_stop(/*retry_failed=*/false);
    it->second->join();
    if (w == want.end()) relay_.health->remove(it->first);
    // Counters live as long as the pipeline: a disabled one keeps them for when it is enabled again.
    if (!known.count(it->first)) relay_.metrics->forget(it->first);
    else if (w == want.end()) relay_.metrics->pipeline(it->first)->running = false;
    it = runners_.erase(it);
  }
  for (auto& [name, cfg] : want) {
    if (runners_.count(name)) continue;
    log_.info("Starting a pipeline.", {{"pipeline", name}, {"direction", to_string(cfg.direction)},
                                       {"source", cfg.source_type}, {"sink", cfg.sink_type}, {"from", cfg.origin}});
    relay_.metrics->pipeline(name)->running = true;
    auto r = std::make_unique<PipelineRunner>(std::move(cfg), relay_);
    r->start();
    runners_.emplace(name, std::move(r));
  }
}

// A relay owning at least two more pipelines than another relay that could run one of them (a
// relay joined, or took what a dead one left) hands that one over, one at a time, giving the other a
// moment to take it.
void Supervisor::rebalance() {
  if (Clock::now() - last_hand_over_ < 5 * relay_.standby_retry) return;
  auto name = relay_.ownership->pipeline_to_hand_over();
  if (!name) return;
  auto r = runners_.find(*name);
  if (r == runners_.end()) return;
  log_.info("Another relay that can run this pipeline owns at least two fewer; handing it over.",
            {{"pipeline", *name}, {"owned", std::to_string(relay_.ownership->owned())}});
  r->second->hand_over();
  last_hand_over_ = Clock::now();
}

void Supervisor::run() {
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::milliseconds(5000));
  std::optional<pg::Connection> control;
  auto last_resync = Clock::now() - std::chrono::hours(1);
  auto last_retention = Clock::now();
  auto last_memory_release = Clock::now();
  auto last_instance = Clock::now() - std::chrono::hours(1);
  constexpr auto kMemoryReleaseEvery = std::chrono::seconds(10);
  Clock::duration retention_every = std::chrono::seconds(60);
  bool catalog_dirty = true;     // read the catalog now
  bool catalog_pending = false;  // read it once reload_interval has passed since the last read
  auto last_reload = Clock::now() - std::chrono::hours(1);
  std::vector<PipelineConfig> sql_pipelines;
  std::set<std::string> invalid_now;

  while (!stop_) {
    if (reload_requested_.exchange(false)) {
      log_.info("Reloading the config file and the pipeline catalog on request.",
                {{"path", config_path_ ? *config_path_ : std::string("(none)")}});
      force_file_reload_ = true;
      catalog_dirty = true;
    }
    // The control connection: LISTEN for catalog changes and read the catalog.
    if (!control || !control->ok()) {
      control_socket_ = -1;
      auto c = pg::Connection::open(relay_.postgres_url, "pgtrickle-relay control");
      if (!c) {
        relay_.health->database_connected = false;
        relay_.metrics->database_up().set(0);
        log_.warn("Cannot reach the database; retrying.", {{"error", c.error().message}});
        std::vector<PipelineConfig> desired;
        load_file(desired);
        wait(backoff.next());
        continue;
      }
      control = std::move(*c);
      auto l = control->exec("LISTEN pgtrickle_relay_config; LISTEN pgtrickle_relay_replay");
      if (!l) {
        control.reset();
        continue;
      }
      control_socket_ = control->socket();
      if (!relay_.health->database_connected.exchange(true))
        for (auto& [name, r] : runners_) r->nudge();
      relay_.metrics->database_up().set(1);
      backoff.reset();
      catalog_dirty = true;
      log_.info("Connected to the database.", {{"relay_group_id", relay_.relay_group_id}});
    }
    // Any login may NOTIFY this channel: all pending notifications count as one change, and the
    // catalog is read at most once per reload_interval (the last change is read at the latest then).
    // Dead letters asked to be sent again: the pipeline's runner looks (a pipeline this relay does
    // not own looks when a relay takes it).
    for (const auto& n : control->notifications()) {
      if (n.channel != "pgtrickle_relay_replay") catalog_pending = true;
      else if (auto r = runners_.find(n.payload); r != runners_.end()) r->second->replay();
    }
    if (Clock::now() - last_resync >= resync_interval) catalog_pending = true;
    if (catalog_pending && Clock::now() - last_reload >= reload_interval) {
      catalog_dirty = true;
      catalog_pending = false;
    }

    std::vector<PipelineConfig> file_desired;
    bool file_changed = load_file(file_desired);
    if (catalog_dirty) {
      auto entries = pg::load_catalog(*control);
      if (!entries) {
        relay_.health->catalog_loaded = false;
        if (!control->ok()) {
          control.reset();
          continue;
        }
        log_.error("Cannot read the pipeline catalog.", {{"error", entries.error().message}});
        wait(std::chrono::milliseconds(5000));
        continue;
      }
      relay_.health->catalog_loaded = true;
      relay_.metrics->config_reloads().inc();
      last_reload = Clock::now();
      sql_pipelines.clear();
      std::set<std::string> invalid;
      for (auto& e : *entries) {
        if (!e.problems.empty()) {
          invalid.insert(e.config.name);
          std::string all = util::join(e.problems, "; ");
          if (reported_problems_[e.config.name] != all) {
            for (const auto& p : e.problems) log_.error("A pipeline's configuration is invalid.", {{"pipeline", e.config.name}, {"problem", p}});
            reported_problems_[e.config.name] = all;
          }
          relay_.health->modify(e.config.name, [&](PipelineHealth& h) {
            h.direction = to_string(e.config.direction);
            h.state = "invalid";
            h.last_error = util::safe_excerpt(all, 2000);
          });
          continue;
        }
        reported_problems_.erase(e.config.name);
        sql_pipelines.push_back(std::move(e.config));
      }
      for (const auto& name : invalid_now)
        if (!invalid.count(name) && !runners_.count(name)) relay_.health->remove(name);
      invalid_now = invalid;
      last_resync = Clock::now();
    }
    if (catalog_dirty || file_changed) {
      std::vector<PipelineConfig> desired = sql_pipelines;
      desired.insert(desired.end(), file_desired.begin(), file_desired.end());
      for (auto& name : invalid_now)
        for (auto& d : desired)
          if (d.name == name) d.enabled = false;
      reconcile(std::move(desired));
      catalog_dirty = false;
    }
    // Retention never deletes what an enabled pipeline has not consumed; any relay may run it. Once
    // a minute, or less often where a run takes long (a thousand outboxes): at most 1 % of the time.
    if (Clock::now() - last_retention >= retention_every && !runners_.empty()) {
      last_retention = Clock::now();
      auto r = control->exec("SELECT pgtrickle.run_outbox_retention()");
      if (!r) log_.debug("Outbox retention did not run.", {{"error", r.error().message}});
      retention_every = std::max<Clock::duration>(std::chrono::seconds(60), (Clock::now() - last_retention) * 100);
    }
    rebalance();
    // This relay's own row (standbys too), on the session it holds anyway.
    if (Clock::now() - last_instance >= StatusWriter::kHeartbeat && relay_.status) {
      last_instance = Clock::now();
      relay_.status->write_instance(*control);
    }
    // The memory a burst freed (every pipeline starting, a backlog) goes back to the system.
    if (Clock::now() - last_memory_release >= kMemoryReleaseEvery) {
      last_memory_release = Clock::now();
      util::release_free_memory();
    }
    if (catalog_pending) {
      // A flood of notifications must not spin the loop: sleep out the interval, deaf to the socket.
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(last_reload + reload_interval - Clock::now());
      wait(std::clamp(left, std::chrono::milliseconds(1), reload_interval), false);
    } else {
      wait(std::chrono::milliseconds(1000));
    }
  }
  log_.info("Stopping: draining pipelines.", {{"pipelines", std::to_string(runners_.size())}});
  for (auto& [name, r] : runners_) r->request_stop();
  for (auto& [name, r] : runners_) r->join();
  runners_.clear();
}

}  // namespace relay
