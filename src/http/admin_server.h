// GET /metrics (Prometheus text), /health (JSON; 503 when degraded), /health/live, /health/ready.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "core/health.h"
#include "metrics/metrics.h"
#include "relay/result.h"

namespace httplib { class Server; }

namespace relay {

class AdminServer {
 public:
  AdminServer(metrics::Registry& metrics, HealthBoard& health);
  ~AdminServer();
  // Binds host:port ("0.0.0.0:9090", "[::1]:9090" or ":9090") and serves on a background thread.
  Status start(const std::string& address);
  void stop();
  int port() const { return port_; }

  // The /health document and its HTTP status (pure; unit-tested).
  static std::string health_json(const HealthBoard& health, int& status);

 private:
  metrics::Registry& metrics_;
  HealthBoard& health_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace relay
