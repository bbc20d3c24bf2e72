#include "fault_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "pg/connection.h"

namespace relay::test {

// ---- Feeder -------------------------------------------------------------------------------------

Feeder::Feeder(int total, int chunk, std::chrono::milliseconds interval, std::function<void(int, int)> feed) {
  thread_ = std::thread([=, this] {
    int from = 1;
    while (from <= total && !quit_) {
      {
        std::lock_guard lock(mu_);
        if (!paused_) {
          int to = std::min(total, from + chunk - 1);
          feed(from, to);
          fed_ = to;
          from = to + 1;
        }
      }
      std::this_thread::sleep_for(interval);
    }
  });
}

Feeder::~Feeder() {
  quit_ = true;
  if (thread_.joinable()) thread_.join();
}

void Feeder::pause() {
  paused_ = true;
  std::lock_guard lock(mu_);  // the chunk under way is done
}

void Feeder::resume() { paused_ = false; }

void Feeder::wait_done() {
  if (thread_.joinable()) thread_.join();
}

// ---- HealthWatch --------------------------------------------------------------------------------

HealthWatch::HealthWatch(int admin_port) : port_(admin_port) {
  thread_ = std::thread([this] {
    while (!quit_) {
      int status = 0;
      std::string body = http_get(port_, "/health", status);
      {
        std::lock_guard lock(mu_);
        samples_.push_back({SteadyClock::now(), status, std::move(body)});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
}

HealthWatch::~HealthWatch() {
  quit_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<HealthWatch::Sample> HealthWatch::window(std::chrono::milliseconds grace) {
  std::lock_guard lock(mu_);
  auto end = end_ == SteadyClock::time_point{} ? SteadyClock::now() : end_ + grace;
  std::vector<Sample> out;
  for (const auto& s : samples_)
    if (s.at >= begin_ && s.at <= end) out.push_back(s);
  return out;
}

bool HealthWatch::degraded_during(const std::string& pipeline, std::chrono::milliseconds grace) {
  for (const auto& s : window(grace)) {
    if (s.status != 503) continue;
    if (pipeline.empty()) return true;
    auto doc = nlohmann::json::parse(s.body, nullptr, false);
    if (doc.is_discarded()) continue;
    for (const auto& p : doc.value("pipelines", nlohmann::json::array()))
      if (p.value("name", "") == pipeline && p.value("state", "") != "running") return true;
  }
  return false;
}

double HealthWatch::seconds_to_degraded() {
  for (const auto& s : window(std::chrono::seconds(2)))
    if (s.status == 503) return std::chrono::duration<double>(s.at - begin_).count();
  return -1;
}

std::string HealthWatch::summary(const std::string& pipeline, std::chrono::milliseconds grace) {
  auto samples = window(grace);
  size_t degraded = 0, noticed = 0;
  bool db_lost = false;
  std::vector<std::string> notes;
  std::set<std::string> noted;
  for (const auto& s : samples) {
    if (s.status != 503) continue;
    ++degraded;
    auto doc = nlohmann::json::parse(s.body, nullptr, false);
    if (doc.is_discarded()) continue;
    if (doc.value("database", "") == "unreachable") db_lost = true;
    for (const auto& p : doc.value("pipelines", nlohmann::json::array())) {
      std::string name = p.value("name", ""), state = p.value("state", "");
      if (state == "running" || (!pipeline.empty() && name != pipeline)) continue;
      ++noticed;
      std::string error = p.contains("last_error") && p["last_error"].is_string() ? p["last_error"].get<std::string>() : "";
      if (error.size() > 60) error = error.substr(0, 57) + "...";
      if (noted.insert(name).second) notes.push_back(name + " " + state + (error.empty() ? "" : ": " + error));
    }
  }
  if (degraded == 0) return "200 throughout (" + std::to_string(samples.size()) + " polls)";
  std::string out = "503 (" + std::to_string(degraded) + "/" + std::to_string(samples.size()) + " polls)";
  if (db_lost) out += "; database unreachable";
  if (!pipeline.empty() && noticed == 0) out += "; " + pipeline + " stayed running";
  for (const auto& n : notes) out += "; " + n;
  return out;
}

// ---- results ------------------------------------------------------------------------------------

void record(const FaultResult& r) {
  nlohmann::json j = {{"case", r.fault},       {"backend", r.backend},     {"direction", r.direction},
                      {"sent", r.sent},        {"delivered", r.delivered}, {"lost", r.lost},
                      {"duplicates", r.duplicates},
                      {"recover_seconds", r.recover_seconds < 0 ? nlohmann::json() : nlohmann::json(std::round(r.recover_seconds * 10) / 10)},
                      {"health", r.health}};
  std::string line = j.dump() + "\n";
  std::cout << "fault result: " << line;
  const char* dir = std::getenv("PGTRICKLE_TEST_WORK_DIR");
  if (!dir || !*dir) return;
  // One write to an O_APPEND file: lines of cases running side by side do not mix.
  int fd = ::open((std::string(dir) + "/faults.jsonl").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
  ::close(fd);
}

ForwardCheck check_forward(const std::vector<Delivered>& got, int sent) {
  ForwardCheck c;
  std::map<int, std::string> identity;
  int last = 0;
  for (const auto& d : got) {
    if (!d.body.is_object() || !d.body.contains("payload")) continue;
    int id = d.body["payload"].value("id", 0);
    auto [it, first] = identity.emplace(id, d.dedup_id);
    if (!first) {
      ++c.duplicates;
      if (it->second != d.dedup_id) c.one_identity_per_row = false;
      continue;
    }
    if (id < last) c.in_order = false;
    last = id;
  }
  for (int i = 1; i <= sent; ++i)
    if (identity.count(i)) ++c.distinct;
    else c.missing.push_back(i);
  return c;
}

std::string query_value(const std::string& url, const std::string& sql) {
  auto c = pg::Connection::open(url, "fault-test");
  if (!c) return "";
  auto r = c->exec(sql);
  if (!r || r->rows() == 0 || r->null(0, 0)) return "";
  return r->str(0, 0);
}

void exec_until_done(const std::string& url, const std::string& sql, const std::string& what) {
  bool ok = wait_until([&] {
    auto c = pg::Connection::open(url, "fault-feed");
    return c && c->exec(sql).has_value();
  }, std::chrono::seconds(60));
  if (!ok) ADD_FAILURE() << "could not " << what;
}

double counter(int admin_port, const std::string& name, const std::string& pipeline) {
  return metric(admin_port, name + "{pipeline=\"" + pipeline + "\"}");
}

double seconds_since(SteadyClock::time_point t) { return std::chrono::duration<double>(SteadyClock::now() - t).count(); }

}  // namespace relay::test
