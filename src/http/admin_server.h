// GET /metrics (Prometheus text), /health (JSON; 503 when degraded), /health/live, /health/ready.
#pragma once

#include <memory>
#include <string>

#include "core/health.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "relay/result.h"

namespace relay {

class AdminServer {
 public:
  AdminServer(metrics::Registry& metrics, HealthBoard& health);
  ~AdminServer();
  // Binds host:port ("0.0.0.0:9090", "[::1]:9090" or ":9090") and serves on a background thread,
  // with connections of its own (a flood of the HTTP receiver does not reach it).
  Status start(const std::string& address);
  void stop();
  int port() const { return server_.port(); }

  // The /health document and its HTTP status (pure; unit-tested).
  static std::string health_json(const HealthBoard& health, int& status);

 private:
  http::Response answer(const http::Request& request) const;

  metrics::Registry& metrics_;
  HealthBoard& health_;
  http::Server server_;
};

}  // namespace relay
