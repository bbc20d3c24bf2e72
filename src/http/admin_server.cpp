#include "http/admin_server.h"
#include "http/listen_socket.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace relay {

AdminServer::AdminServer(metrics::Registry& metrics, HealthBoard& health) : metrics_(metrics), health_(health) {}

AdminServer::~AdminServer() { stop(); }

std::string AdminServer::health_json(const HealthBoard& health, int& status) {
  nlohmann::json doc;
  auto pipelines = health.snapshot();
  bool db = health.database_connected.load();
  bool failing = false;
  int owned = 0;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : pipelines) {
    if (p.owned) ++owned;
    if (p.failing()) failing = true;
    nlohmann::json e = {{"name", p.name}, {"direction", p.direction}, {"state", p.state},
                        {"lag", p.lag >= 0 ? nlohmann::json(p.lag) : nlohmann::json()},
                        {"lag_seconds", p.lag_seconds >= 0 ? nlohmann::json(p.lag_seconds) : nlohmann::json()},
                        {"last_error", p.last_error.empty() ? nlohmann::json() : nlohmann::json(p.last_error)}};
    list.push_back(std::move(e));
  }
  bool healthy = db && !failing;
  status = healthy ? 200 : 503;
  doc["status"] = healthy ? "healthy" : "degraded";
  doc["database"] = db ? "connected" : "unreachable";
  doc["pipelines_owned"] = owned;
  doc["uptime_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - health.started).count();
  doc["pipelines"] = std::move(list);
  return doc.dump();
}

Status AdminServer::start(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return fatal("metrics address \"" + address + "\" must be host:port, e.g. 0.0.0.0:9090");
  std::string host = address.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (...) {
    return fatal("metrics address \"" + address + "\": the port must be a number");
  }
  server_ = std::make_unique<httplib::Server>();
  http::listen_exclusively(*server_);
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    int status = 200;
    res.set_content(health_json(health_, status), "application/json");
    res.status = status;
  });
  server_->Get("/health/live", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"alive\"}", "application/json");
  });
  server_->Get("/health/ready", [this](const httplib::Request&, httplib::Response& res) {
    bool ready = health_.database_connected.load() && health_.catalog_loaded.load();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}", "application/json");
  });
  if (port == 0) port_ = server_->bind_to_any_port(host);
  else port_ = server_->bind_to_port(host, port) ? port : -1;
  if (port_ <= 0) return fatal("cannot listen on " + address + " for /metrics and /health (in use? set --metrics-addr)");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return {};
}

void AdminServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace relay
