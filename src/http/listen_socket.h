// Listening sockets of the relay's HTTP servers (/metrics and the HTTP receiver).
#pragma once

#include <httplib.h>
#include <sys/socket.h>

namespace relay::http {

// cpp-httplib sets SO_REUSEPORT on its listening sockets, which lets a second process listen on
// the same port and quietly take part of its connections. The relay's servers use SO_REUSEADDR
// only: a port another process listens on is refused ("address in use").
inline void listen_exclusively(httplib::Server& server) {
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
}

}  // namespace relay::http
