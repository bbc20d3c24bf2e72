#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace relay::test {
namespace {

int connect_to(const std::string& host, int port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) return -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

void reset_and_close(int fd) {
  linger l{1, 0};  // RST instead of FIN: the peer sees the failure at once
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

}  // namespace

TcpProxy::TcpProxy(std::string upstream_host, int upstream_port)
    : host_(std::move(upstream_host)), upstream_port_(upstream_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 64) != 0)
    throw std::runtime_error("proxy: cannot listen");
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (pipe(wake_) != 0) throw std::runtime_error("proxy: pipe");
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  (void)!write(wake_[1], "x", 1);
  thread_.join();
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

void TcpProxy::set_reachable(bool reachable) {
  reachable_ = reachable;
  (void)!write(wake_[1], "x", 1);
}

void TcpProxy::run() {
  struct Pair {
    int client, server;
  };
  std::vector<Pair> pairs;
  char buf[65536];
  while (!stopping_) {
    if (!reachable_ && !pairs.empty()) {
      for (auto& p : pairs) {
        reset_and_close(p.client);
        reset_and_close(p.server);
      }
      pairs.clear();
    }
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (auto& p : pairs) {
      fds.push_back({p.client, POLLIN, 0});
      fds.push_back({p.server, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), 1000) <= 0) continue;
    if (fds[0].revents) (void)!read(wake_[0], buf, sizeof buf);
    if (fds[1].revents & POLLIN) {
      int c = accept(listen_fd_, nullptr, nullptr);
      if (c >= 0) {
        int s = reachable_ ? connect_to(host_, upstream_port_) : -1;
        if (s < 0) {
          reset_and_close(c);
        } else {
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          pairs.push_back({c, s});
        }
      }
    }
    std::vector<size_t> dead;
    for (size_t i = 0; i < pairs.size(); ++i) {
      for (int side = 0; side < 2; ++side) {
        const auto& f = fds[2 + 2 * i + side];
        if (!f.revents) continue;
        int from = side == 0 ? pairs[i].client : pairs[i].server;
        int to = side == 0 ? pairs[i].server : pairs[i].client;
        ssize_t n = read(from, buf, sizeof buf);
        bool ok = n > 0;
        for (ssize_t off = 0; ok && off < n;) {
          ssize_t w = write(to, buf + off, n - off);
          if (w <= 0) ok = false; else off += w;
        }
        if (!ok) {
          dead.push_back(i);
          break;
        }
      }
    }
    for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
      close(pairs[*it].client);
      close(pairs[*it].server);
      pairs.erase(pairs.begin() + static_cast<long>(*it));
    }
  }
  for (auto& p : pairs) {
    close(p.client);
    close(p.server);
  }
}

}  // namespace relay::test
