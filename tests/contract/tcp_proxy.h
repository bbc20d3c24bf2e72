// A TCP proxy in front of a real server, so a test can cut the network between the relay and its
// broker (connections reset, new ones refused) and restore it, without disturbing other tests that
// use the same server.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace relay::test {

class TcpProxy {
 public:
  TcpProxy(std::string upstream_host, int upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // false: every open connection is reset and new ones are closed at once; true: forward again.
  void set_reachable(bool reachable);

 private:
  void run();
  std::string host_;
  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> reachable_{true};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace relay::test
