#include "http/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <microhttpd.h>
#include <netdb.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "util/strings.h"

namespace relay::http {

using Clock = std::chrono::steady_clock;

// One open connection, as the watchdog sees it.
struct Connection {
  int fd = -1;
  Clock::time_point since;  // accepted, or its previous answer completed
  bool receiving = true;    // reading a request (or idle between two): the deadline runs
};

// One request from its headers to its answer.
struct Exchange {
  Server::State* server = nullptr;
  MHD_Connection* connection = nullptr;
  Request request;
  bool too_large = false, handed = false;
  std::mutex mutex;  // the fields below, which Reply sets from other threads
  std::optional<Response> answer;
  bool suspended = false, finished = false;
};

struct Server::State {
  Limits limits;
  HeadersHandler on_headers;
  RequestHandler on_request;
  std::function<void()> tick;

  std::mutex mutex;  // the fields below
  std::unordered_set<Connection*> connections;
  std::unordered_set<std::shared_ptr<Exchange>> waiting;  // handed to on_request, not yet completed
  std::condition_variable changed;
  bool stopping = false;
  std::thread watchdog;
};

namespace {

const std::string kNone;

MHD_Result queue(MHD_Connection* connection, const Response& r) {
  MHD_Response* response = MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (!response) return MHD_NO;
  if (!r.content_type.empty()) MHD_add_response_header(response, "Content-Type", r.content_type.c_str());
  for (const auto& [name, value] : r.headers) MHD_add_response_header(response, name.c_str(), value.c_str());
  MHD_Result ok = MHD_queue_response(connection, static_cast<unsigned>(r.status), response);
  MHD_destroy_response(response);
  return ok;
}

std::string peer_of(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!info || !info->client_addr) return "";
  char host[NI_MAXHOST] = "";
  socklen_t len = info->client_addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::getnameinfo(info->client_addr, len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) return "";
  return host;
}

Connection* connection_of(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info ? static_cast<Connection*>(info->socket_context) : nullptr;
}

// Why the headers alone refuse the request (status and text), or 0.
int framing_problem(const Request& r, const Limits& limits, std::string& why) {
  if (r.headers.size() > limits.max_header_lines) {
    why = fmt::format("more than {} header lines", limits.max_header_lines);
    return 431;
  }
  int lengths = 0, encodings = 0;
  for (const auto& [name, value] : r.headers) {
    // "Transfer-Encoding : chunked" is no header to libmicrohttpd, but a proxy in front may
    // take it for one (RFC 9112 asks for 400 on whitespace before the colon).
    if (!util::is_http_token(name)) {
      why = "a header name holds a character a name may not have (e.g. a space before the colon)";
      return 400;
    }
    if (util::iequals(name, "Content-Length")) {
      ++lengths;
      if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
        why = "Content-Length is not a number of bytes";
        return 400;
      }
    }
    if (util::iequals(name, "Transfer-Encoding")) {
      ++encodings;
      // libmicrohttpd decodes "chunked" alone; any other list ("chunked, chunked", "gzip, chunked")
      // it would read to the end of the connection, where a proxy may see a complete request.
      if (!util::iequals(value, "chunked")) {
        why = "Transfer-Encoding other than \"chunked\"; send the body chunked or with Content-Length";
        return 400;
      }
    }
  }
  if (lengths > 1) {
    why = "more than one Content-Length header; send exactly one";
    return 400;
  }
  if (encodings > 1) {
    why = "more than one Transfer-Encoding header; send one of them";
    return 400;
  }
  if (lengths == 1 && encodings == 1) {
    why = "both Content-Length and Transfer-Encoding; send one of them";
    return 400;
  }
  return 0;
}

MHD_Result on_access(void* cls, MHD_Connection* connection, const char* url, const char* method, const char*,
                     const char* upload_data, size_t* upload_data_size, void** con_cls) {
  auto* server = static_cast<Server::State*>(cls);
  auto* slot = static_cast<std::shared_ptr<Exchange>*>(*con_cls);
  if (!slot) {  // the headers are in; nothing of the body is read yet
    slot = new std::shared_ptr<Exchange>(std::make_shared<Exchange>());
    *con_cls = slot;
    Exchange& x = **slot;
    x.server = server;
    x.connection = connection;
    x.request.method = method;
    x.request.path = url;
    x.request.peer = peer_of(connection);
    MHD_get_connection_values_n(connection, MHD_HEADER_KIND, [](void* out, MHD_ValueKind, const char* k, size_t kn, const char* v, size_t vn) {
      static_cast<Request*>(out)->headers.emplace_back(std::string(k, kn), v ? std::string(v, vn) : std::string());
      return MHD_YES;
    }, &x.request);
    std::string why;
    if (int status = framing_problem(x.request, server->limits, why)) return queue(connection, error_response(status, why));
    const std::string& length = x.request.header("Content-Length");
    bool chunked = !x.request.header("Transfer-Encoding").empty();
    if ((!length.empty() && length != "0" && std::strtoull(length.c_str(), nullptr, 10) > server->limits.max_body_bytes) ||
        (chunked && server->limits.max_body_bytes == 0))
      return queue(connection, error_response(413, fmt::format("the body is larger than {} ({} bytes)", server->limits.body_limit_name,
                                                                 server->limits.max_body_bytes)));
    if (server->on_headers)
      if (auto early = server->on_headers(x.request)) return queue(connection, *early);
    return MHD_YES;
  }
  std::shared_ptr<Exchange> x = *slot;
  if (*upload_data_size) {  // a piece of the body (chunked bodies are only known too large here)
    if (!x->too_large && x->request.body.size() + *upload_data_size > server->limits.max_body_bytes) {
      x->too_large = true;
      std::string().swap(x->request.body);
    }
    if (!x->too_large) x->request.body.append(upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (!x->handed) {  // the whole request is in
    x->handed = true;
    if (x->too_large)
      return queue(connection, error_response(413, fmt::format("the body is larger than {} ({} bytes)", server->limits.body_limit_name,
                                                                 server->limits.max_body_bytes)));
    {
      std::lock_guard lock(server->mutex);
      if (Connection* c = connection_of(connection)) c->receiving = false;
      server->waiting.insert(x);
    }
    server->on_request(x->request, Reply(x));
  }
  std::lock_guard lock(x->mutex);
  if (x->answer) return queue(connection, *x->answer);
  x->suspended = true;
  MHD_suspend_connection(connection);
  return MHD_YES;
}

void on_completed(void* cls, MHD_Connection* connection, void** con_cls, MHD_RequestTerminationCode) {
  auto* server = static_cast<Server::State*>(cls);
  auto* slot = static_cast<std::shared_ptr<Exchange>*>(*con_cls);
  if (!slot) return;
  *con_cls = nullptr;
  {
    std::lock_guard lock((*slot)->mutex);
    (*slot)->finished = true;
  }
  {
    std::lock_guard lock(server->mutex);
    server->waiting.erase(*slot);
    if (Connection* c = connection_of(connection)) {
      c->receiving = true;  // the next request's deadline starts now
      c->since = Clock::now();
    }
  }
  server->changed.notify_all();
  delete slot;
}

void on_connection(void* cls, MHD_Connection* connection, void** socket_context, MHD_ConnectionNotificationCode code) {
  auto* server = static_cast<Server::State*>(cls);
  std::lock_guard lock(server->mutex);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    auto* c = new Connection;
    const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = info ? info->connect_fd : -1;
    c->since = Clock::now();
    server->connections.insert(c);
    *socket_context = c;
  } else if (auto* c = static_cast<Connection*>(*socket_context)) {
    // Called before libmicrohttpd closes the descriptor: the watchdog never touches a reused one.
    server->connections.erase(c);
    delete c;
    *socket_context = nullptr;
  }
}

// Ends connections whose request took longer than the deadline (a slow sender holds a slot for
// at most that long), and runs the owner's periodic work.
void watch(Server::State* server) {
  std::unique_lock lock(server->mutex);
  while (!server->stopping) {
    auto now = Clock::now();
    for (Connection* c : server->connections)
      if (c->receiving && c->fd >= 0 && now - c->since > server->limits.request_timeout) {
        ::shutdown(c->fd, SHUT_RDWR);  // libmicrohttpd sees the end of the stream and closes it
        c->fd = -1;
      }
    lock.unlock();
    if (server->tick) server->tick();
    lock.lock();
    server->changed.wait_for(lock, std::chrono::milliseconds(250), [&] { return server->stopping; });
  }
}

int listen_socket(const std::string& host, int port, std::string& error) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    error = ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR only: SO_REUSEPORT would let another process listen on the same port and
    // quietly take part of the connections.
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  return fd;
}

int bound_port(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return -1;
  return ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

}  // namespace

const std::string& Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (util::iequals(n, name)) return v;
  return kNone;
}

Response error_response(int status, std::string_view why) {
  Response r;
  r.status = status;
  r.body = "{\"error\":" + nlohmann::json(std::string(why)).dump() + "}";
  return r;
}

void Reply::operator()(Response response) const {
  std::lock_guard lock(x_->mutex);
  if (x_->finished || x_->answer) return;
  x_->answer = std::move(response);
  if (x_->suspended) {
    x_->suspended = false;
    MHD_resume_connection(x_->connection);
  }
}

Server::Server() = default;
Server::~Server() { stop(); }

Status Server::start(const std::string& host, int port, const Limits& limits, HeadersHandler on_headers, RequestHandler on_request,
                     std::function<void()> every_quarter_second) {
  std::string error;
  int fd = listen_socket(host, port, error);
  if (fd < 0) return retriable(error);
  state_ = std::make_unique<State>();
  state_->limits = limits;
  state_->on_headers = std::move(on_headers);
  state_->on_request = std::move(on_request);
  state_->tick = std::move(every_quarter_second);
  // The connection's memory holds its request line and headers, the read buffer and the answer's
  // headers: the header limit plus room for the rest.
  size_t memory = limits.max_header_bytes + 16 * 1024;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
  std::vector<MHD_OptionItem> tls;
  if (!state_->limits.tls_cert_pem.empty()) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      ::close(fd);
      return fatal("this libmicrohttpd was built without TLS: HTTPS cannot be served");
    }
    flags |= MHD_USE_TLS;
    // Kept by the state, which outlives the daemon: libmicrohttpd reads them when it starts.
    tls.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(state_->limits.tls_cert_pem.c_str())});
    tls.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(state_->limits.tls_key_pem.c_str())});
  }
  tls.push_back({MHD_OPTION_END, 0, nullptr});
  daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &on_access,
      state_.get(), MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(limits.max_connections),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(limits.max_connections_per_peer), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      memory, MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(limits.request_timeout.count()), MHD_OPTION_NOTIFY_COMPLETED,
      &on_completed, state_.get(), MHD_OPTION_NOTIFY_CONNECTION, &on_connection, state_.get(), MHD_OPTION_ARRAY, tls.data(), MHD_OPTION_END);
  if (!daemon_) {
    ::close(fd);
    state_.reset();
    return retriable("cannot start the HTTP server");
  }
  port_ = bound_port(fd);
  state_->watchdog = std::thread(watch, state_.get());
  return {};
}

void Server::stop() {
  if (!daemon_) return;
  int listener = MHD_quiesce_daemon(daemon_);
  // What still waits for its answer is answered now; libmicrohttpd refuses to stop with a
  // connection suspended.
  std::vector<std::shared_ptr<Exchange>> waiting;
  {
    std::lock_guard lock(state_->mutex);
    waiting.assign(state_->waiting.begin(), state_->waiting.end());
  }
  for (auto& x : waiting) Reply{x}(error_response(503, "the server is stopping; send again"));
  {
    std::unique_lock lock(state_->mutex);
    state_->changed.wait_for(lock, std::chrono::seconds(2), [&] { return state_->waiting.empty(); });
    state_->stopping = true;
  }
  state_->changed.notify_all();
  if (state_->watchdog.joinable()) state_->watchdog.join();
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
  if (listener >= 0) ::close(listener);
  state_.reset();
}

}  // namespace relay::http
