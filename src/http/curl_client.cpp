#include "http/curl_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "config/destinations.h"
#include "util/strings.h"

namespace relay::http {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
  void operator()(CURL* e) const { curl_easy_cleanup(e); }
};
struct MultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using Multi = std::unique_ptr<CURLM, MultiDeleter>;
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

}  // namespace

ErrorKind classify_curl_error(int code) {
  switch (static_cast<CURLcode>(code)) {
    case CURLE_UNSUPPORTED_PROTOCOL:  // a URL that is not http(s)
    case CURLE_URL_MALFORMAT:
      return ErrorKind::permanent;
    default:  // DNS, refused, reset, timeout, TLS, send/receive errors: the server may come back
      return ErrorKind::retriable;
  }
}

std::int64_t retry_after_ms(std::string_view value, std::int64_t now_unix) {
  value = trim(value);
  if (value.empty()) return -1;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return -1;
    return std::atoll(std::string(value).c_str()) * 1000;
  }
  time_t at = curl_getdate(std::string(value).c_str(), nullptr);
  if (at < 0) return -1;
  return std::max<std::int64_t>(0, (static_cast<std::int64_t>(at) - now_unix) * 1000);
}

struct Client::Impl {
  struct Transfer {
    Easy easy;
    Slist headers;
    ClientResponse response;
    std::uint64_t tag = 0;
    const HostAccess* access = nullptr;
    std::string host;  // the URL's, for the destination check
    int port = 0;
    std::string refused;  // why a connection was refused
  };

  Multi multi;
  std::vector<std::unique_ptr<Transfer>> pool;  // idle transfers, their connections kept by the multi handle
  std::vector<std::unique_ptr<Transfer>> busy;
  int max_host_connections;
  const HostAccess* access = nullptr;

  explicit Impl(int max_conns) : max_host_connections(max_conns) { make_multi(); }

  void make_multi() {
    global_init();
    multi.reset(curl_multi_init());
    if (!multi) return;
    curl_multi_setopt(multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(max_host_connections));
    curl_multi_setopt(multi.get(), CURLMOPT_MAXCONNECTS, static_cast<long>(max_host_connections * 2));
  }

  static size_t on_body(char* data, size_t size, size_t n, void* user) noexcept {
    auto* t = static_cast<Transfer*>(user);
    try {
      t->response.body.append(data, size * n);
    } catch (...) {
      return 0;  // out of memory: libcurl fails the transfer
    }
    return size * n;
  }

  static size_t on_header(char* data, size_t size, size_t n, void* user) noexcept {
    auto* t = static_cast<Transfer*>(user);
    std::string_view line(data, size * n);
    if (util::istarts_with(line, "retry-after:")) {
      try {
        t->response.retry_after = std::string(trim(line.substr(12)));
      } catch (...) {
      }
    }
    return size * n;
  }

  // Called by libcurl for each connection it opens, with the address it resolved: the one place
  // where DNS rebinding cannot change the answer after the check.
  static curl_socket_t on_open_socket(void* user, curlsocktype, curl_sockaddr* a) noexcept {
    auto* t = static_cast<Transfer*>(user);
    try {
      sockaddr_storage sa{};
      std::memcpy(&sa, &a->addr, std::min<size_t>(a->addrlen, sizeof sa));
      if (auto why = destination_refusal(*t->access, t->host, t->port, {sa}); !why.empty()) {
        t->refused = std::move(why);
        return CURL_SOCKET_BAD;
      }
    } catch (...) {
      return CURL_SOCKET_BAD;
    }
    return ::socket(a->family, a->socktype, a->protocol);
  }

  // The host and port `url` names, as libcurl reads it.
  static void url_host_port(const std::string& url, std::string& host, int& port) {
    CURLU* u = curl_url();
    if (!u) return;
    if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
      char* h = nullptr;
      char* p = nullptr;
      if (curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) host = h;
      if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK) port = std::atoi(p);
      curl_free(h);
      curl_free(p);
    }
    curl_url_cleanup(u);
  }

  void release(Transfer* t) {
    auto it = std::find_if(busy.begin(), busy.end(), [&](const auto& p) { return p.get() == t; });
    if (it == busy.end()) return;
    curl_multi_remove_handle(multi.get(), t->easy.get());
    t->headers.reset();
    pool.push_back(std::move(*it));
    busy.erase(it);
  }
};

Client::Client(int max_host_connections) : impl_(std::make_unique<Impl>(std::max(1, max_host_connections))) {}

Client::~Client() {
  abort_all();
  impl_->pool.clear();  // easy handles go before the multi handle
}

Status Client::start(const ClientRequest& req, std::uint64_t tag) {
  if (!impl_->multi) return retriable("libcurl: cannot create a multi handle");
  std::unique_ptr<Impl::Transfer> t;
  if (!impl_->pool.empty()) {
    t = std::move(impl_->pool.back());
    impl_->pool.pop_back();
    curl_easy_reset(t->easy.get());
  } else {
    t = std::make_unique<Impl::Transfer>();
    t->easy.reset(curl_easy_init());
    if (!t->easy) return retriable("libcurl: cannot create an easy handle");
  }
  CURL* e = t->easy.get();
  t->response = ClientResponse{};
  t->tag = tag;
  t->access = impl_->access;
  t->refused.clear();
  curl_slist* list = nullptr;
  for (const auto& h : req.headers) {
    curl_slist* next = curl_slist_append(list, h.c_str());
    if (!next) {
      curl_slist_free_all(list);
      impl_->pool.push_back(std::move(t));
      return retriable("libcurl: out of memory for headers");
    }
    list = next;
  }
  // No "Expect: 100-continue": it would hold larger bodies back for a round trip (or a second).
  if (curl_slist* next = curl_slist_append(list, "Expect:")) list = next;
  t->headers.reset(list);

  curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");  // a rendered URL can never reach file:// etc.
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);             // a redirect is an answer, never followed
  if (t->access) {
    t->host.clear();
    t->port = 0;
    Impl::url_host_port(req.url, t->host, t->port);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &Impl::on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
  }
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "pgtrickle-relay");
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, req.body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  if (req.method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, std::max(1L, req.timeout_ms));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, std::max(1L, std::min(req.timeout_ms, 10000L)));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  if (!req.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, req.ca_file.c_str());
  if (!req.cert_file.empty()) {
    curl_easy_setopt(e, CURLOPT_SSLCERT, req.cert_file.c_str());
    curl_easy_setopt(e, CURLOPT_SSLKEY, req.key_file.c_str());
  }
  if (!req.aws_sigv4.empty()) {
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, req.aws_sigv4.c_str());
    curl_easy_setopt(e, CURLOPT_USERNAME, req.username.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, req.password.c_str());
  } else if (!req.username.empty()) {
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(e, CURLOPT_USERNAME, req.username.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, req.password.c_str());
  }
  if (CURLMcode rc = curl_multi_add_handle(impl_->multi.get(), e); rc != CURLM_OK) {
    t->headers.reset();
    impl_->pool.push_back(std::move(t));
    return retriable(fmt::format("libcurl: {}", curl_multi_strerror(rc)));
  }
  impl_->busy.push_back(std::move(t));
  return {};
}

void Client::poll(std::chrono::milliseconds wait, std::vector<std::pair<std::uint64_t, ClientResponse>>& done) {
  CURLM* m = impl_->multi.get();
  if (!m) return;
  auto collect = [&] {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(m, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Impl::Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      if (!t) continue;
      CURLcode rc = msg->data.result;
      ClientResponse& r = t->response;
      r.curl_code = static_cast<int>(rc);
      if (rc == CURLE_OK) {
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &r.status);
      } else {
        r.error = t->refused.empty() ? curl_easy_strerror(rc) : t->refused;
      }
      done.emplace_back(t->tag, std::move(r));
      impl_->release(t);
    }
  };
  int running = 0;
  curl_multi_perform(m, &running);
  size_t before = done.size();
  collect();
  if (done.size() > before) return;
  int fds = 0;
  curl_multi_poll(m, nullptr, 0, static_cast<int>(std::max<long long>(0, wait.count())), &fds);
  curl_multi_perform(m, &running);
  collect();
}

size_t Client::in_flight() const { return impl_->busy.size(); }

void Client::abort_all() {
  while (!impl_->busy.empty()) impl_->release(impl_->busy.back().get());
}

void Client::restrict_to(const HostAccess* access) { impl_->access = access; }

void Client::reset() {
  abort_all();
  impl_->pool.clear();
  impl_->make_multi();
}

void run_lanes(Client& client, std::span<Unit> units, const Judge& judge, Deadline deadline) {
  size_t lanes = 0;
  for (const auto& u : units) lanes = std::max(lanes, u.lane + 1);
  // Each lane's units in order, and where each lane stands.
  std::vector<std::vector<size_t>> queue(lanes);
  for (size_t i = 0; i < units.size(); ++i) queue[units[i].lane].push_back(i);
  struct Lane {
    size_t next = 0;
    bool busy = false, stopped = false;
    Clock::time_point ready_at{};
  };
  std::vector<Lane> state(lanes);
  std::vector<std::pair<std::uint64_t, ClientResponse>> done;

  auto settle = [&](size_t unit, const ClientResponse& r) {
    size_t lane = units[unit].lane;
    Lane& l = state[lane];
    l.busy = false;
    std::chrono::milliseconds wait{0};
    Verdict v = judge(unit, r, wait);
    if (v == Verdict::next) {
      ++l.next;
    } else if (v == Verdict::stop) {
      l.stopped = true;
    } else {
      l.ready_at = Clock::now() + wait;
      if (l.ready_at >= deadline) l.stopped = true;  // the judge left the unit retriable
    }
  };

  while (true) {
    auto now = Clock::now();
    if (now >= deadline) break;
    Clock::time_point wake = deadline;
    bool pending = false;
    for (size_t lane = 0; lane < lanes; ++lane) {
      Lane& l = state[lane];
      if (l.stopped || l.next >= queue[lane].size()) continue;
      pending = true;
      if (l.busy) continue;
      if (l.ready_at > now) {
        wake = std::min(wake, l.ready_at);
        continue;
      }
      size_t unit = queue[lane][l.next];
      ClientRequest& req = units[unit].request;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      req.timeout_ms = std::max(1L, std::min<long>(req.timeout_ms, static_cast<long>(left)));
      if (auto s = client.start(req, unit); !s) {
        ClientResponse r;
        r.curl_code = CURLE_FAILED_INIT;
        r.error = s.error().message;
        settle(unit, r);
        continue;
      }
      l.busy = true;
    }
    if (!pending) return;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now());
    wait = std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(1000));
    done.clear();
    client.poll(wait, done);
    for (auto& [tag, r] : done) settle(static_cast<size_t>(tag), r);
  }
  client.abort_all();
}

}  // namespace relay::http
