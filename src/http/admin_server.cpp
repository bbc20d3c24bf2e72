#include "http/admin_server.h"

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
    if (p.slot_lag_bytes >= 0) e["slot_lag_bytes"] = p.slot_lag_bytes;
    if (p.slot_retained_bytes >= 0) e["slot_retained_wal_bytes"] = p.slot_retained_bytes;
    if (p.streamed) {
      e["streamed_transactions"] = p.streamed->transactions;
      e["streamed_memory_bytes"] = p.streamed->memory_bytes;
      e["streamed_spilled_bytes"] = p.streamed->spilled_bytes;
      e["streamed_oldest_seconds"] = p.streamed->oldest_seconds;
    }
    if (!p.slot_name.empty()) e["slot"] = p.slot_name;
    if (!p.slot_wal_status.empty()) e["slot_wal_status"] = p.slot_wal_status;
    if (p.slot_safe_wal_bytes) e["slot_safe_wal_size_bytes"] = *p.slot_safe_wal_bytes;
    if (p.backfill_id > 0)
      e["backfill"] = {{"id", p.backfill_id}, {"rows_done", p.backfill_rows_done}, {"rows_sent", p.backfill_rows_sent},
                       {"rows_estimated", p.backfill_rows_estimated >= 0 ? nlohmann::json(p.backfill_rows_estimated) : nlohmann::json()},
                       {"rows_per_second", p.backfill_rows_per_second}};
    if (!p.kept_past_retention.empty()) e["kept_past_retention"] = p.kept_past_retention;
    if (!p.tables.empty()) {
      nlohmann::json tables = nlohmann::json::array();
      for (const auto& t : p.tables)
        tables.push_back({{"table", t.table}, {"changes", t.changes},
                          {"problem", t.problem.empty() ? nlohmann::json() : nlohmann::json(t.problem)}});
      e["tables"] = std::move(tables);
    }
    list.push_back(std::move(e));
  }
  std::string config_error = health.config_error();
  bool healthy = db && !failing && config_error.empty();
  status = healthy ? 200 : 503;
  doc["status"] = healthy ? "healthy" : "degraded";
  doc["database"] = db ? "connected" : "unreachable";
  // A broken edit of the config file keeps the last good pipelines running; it shows here until fixed.
  if (!config_error.empty()) doc["config_error"] = config_error;
  doc["pipelines_owned"] = owned;
  doc["uptime_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - health.started).count();
  doc["pipelines"] = std::move(list);
  return doc.dump();
}

http::Response AdminServer::answer(const http::Request& request) const {
  if (request.method != "GET" && request.method != "HEAD") {
    auto r = http::error_response(405, "only GET is served here");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  http::Response r;
  if (request.path == "/metrics") {
    r.body = metrics_.render();
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (request.path == "/health") {
    r.body = health_json(health_, r.status);
  } else if (request.path == "/health/live") {
    r.body = "{\"status\":\"alive\"}";
  } else if (request.path == "/health/ready") {
    bool ready = health_.database_connected.load() && health_.catalog_loaded.load();
    r.status = ready ? 200 : 503;
    r.body = ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}";
  } else {
    r = http::error_response(404, "nothing here; try /metrics, /health, /health/live or /health/ready");
  }
  return r;
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
  // Scrapers and probes need few connections and no request body; anything bigger or slower is refused.
  http::Limits limits;
  limits.max_connections = 64;
  limits.max_connections_per_peer = 16;
  limits.request_timeout = std::chrono::seconds(10);
  limits.max_body_bytes = 0;
  limits.body_limit_name = "the limit of the metrics server";
  auto started = server_.start(host, port, limits, {}, [this](http::Request& request, http::Reply reply) { reply(answer(request)); });
  if (!started) 
    return fatal("cannot listen on " + address + " for /metrics and /health: " + started.error().message + " (in use? set --metrics-addr)");
  return {};
}

void AdminServer::stop() { server_.stop(); }

}  // namespace relay
