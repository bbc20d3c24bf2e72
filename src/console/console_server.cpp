#include "console/console_server.h"

#include <openssl/crypto.h>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "console/console_api.h"
#include "util/strings.h"
#include "util/thread_name.h"

// The pages, compiled in (src/console/assets/).
namespace relay {
extern const std::string_view relay_console_index_html;
extern const std::string_view relay_console_js;
extern const std::string_view relay_console_css;
}  // namespace relay

namespace relay::console {
namespace {

constexpr const char* kCookie = "pgtrickle_console";

// Every answer: nothing of the console's may be framed, sniffed, cached or loaded from elsewhere.
void harden(http::Response& r) {
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                         "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cache-Control", "no-store");
}

http::Response asset(std::string_view body, const char* type) {
  http::Response r;
  r.body = std::string(body);
  r.content_type = type;
  return r;
}

// The session token of the request's cookie, "" if none.
std::string cookie_token(const http::Request& request) {
  std::string_view cookies = request.header("Cookie");
  const std::string name = std::string(kCookie) + "=";
  while (!cookies.empty()) {
    auto end = cookies.find(';');
    std::string_view c = cookies.substr(0, end);
    while (!c.empty() && c.front() == ' ') c.remove_prefix(1);
    if (c.substr(0, name.size()) == name) return std::string(c.substr(name.size()));
    if (end == std::string_view::npos) break;
    cookies.remove_prefix(end + 1);
  }
  return "";
}

bool same_secret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> read_pem(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return fatal(fmt::format("cannot read the console's TLS {} {}", what, path));
  std::stringstream s;
  s << in.rdbuf();
  if (s.str().find("-----BEGIN") == std::string::npos)
    return fatal(fmt::format("the console's TLS {} {} is not PEM (expected -----BEGIN …)", what, path));
  return s.str();
}

}  // namespace

ConsoleServer::ConsoleServer(Options options) : options_(std::move(options)), sessions_(options_.sessions) {}

ConsoleServer::~ConsoleServer() { stop(); }

Status ConsoleServer::start() {
  std::string host;
  int port = -1;
  std::string_view address = options_.address;
  const bool any_port = address.size() >= 2 && address.substr(address.size() - 2) == ":0";  // a free port, logged
  if (any_port) address.remove_suffix(2);
  if (auto why = util::parse_host_port(address, host, port);
      !why.empty() || (port < 0 && !any_port))
    return fatal(fmt::format("--console-addr must be host:port (or :port for 127.0.0.1), e.g. 127.0.0.1:9443{}",
                             why.empty() ? "" : ": " + why));
  if (host.empty()) host = "127.0.0.1";  // the console faces the network only when told to
  if (any_port) port = 0;
  if (options_.tls_cert.empty() != options_.tls_key.empty())
    return fatal("--console-tls-cert and --console-tls-key go together: give both for HTTPS, or neither");
  http::Limits limits;
  limits.max_connections = 64;
  limits.max_connections_per_peer = 32;
  limits.max_body_bytes = 8 * 1024;  // a login, an action: nothing bigger
  if (!options_.tls_cert.empty()) {
    auto cert = read_pem(options_.tls_cert, "certificate");
    if (!cert) return cert.error();
    auto key = read_pem(options_.tls_key, "key");
    if (!key) return key.error();
    limits.tls_cert_pem = std::move(*cert);
    limits.tls_key_pem = std::move(*key);
    tls_ = true;
  }
  if (options_.pool) history_ = std::make_unique<History>(*options_.pool);
  for (int i = 0; i < 2; ++i) workers_.emplace_back([this] { work(); });
  auto started = server_.start(
      host, port, limits, [](const http::Request&) { return std::optional<http::Response>(); },
      [this](http::Request& request, http::Reply reply) { answer(request, std::move(reply)); });
  if (!started) {
    stop();
    return started.error();
  }
  log_.info("Serving the console.", {{"address", options_.address}, {"port", std::to_string(server_.port())}, {"tls", tls_ ? "yes" : "no"}});
  return {};
}

void ConsoleServer::stop() {
  server_.stop();
  history_.reset();
  {
    std::lock_guard lock(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

void ConsoleServer::later(std::function<void()> job) {
  {
    std::lock_guard lock(jobs_mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
}

void ConsoleServer::work() {
  util::name_this_thread("console");
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(jobs_mu_);
      jobs_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
    sessions_.sweep();
  }
}

void ConsoleServer::answer(http::Request& request, http::Reply reply) {
  auto send = [reply](http::Response r) {
    harden(r);
    reply(std::move(r));
  };
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (get && (path == "/" || path == "/index.html")) return send(asset(relay_console_index_html, "text/html; charset=utf-8"));
  if (get && path == "/assets/console.js") return send(asset(relay_console_js, "text/javascript; charset=utf-8"));
  if (get && path == "/assets/console.css") return send(asset(relay_console_css, "text/css; charset=utf-8"));
  if (path.rfind("/api/", 0) != 0) return send(http::error_response(404, "no such page: " + util::safe_excerpt(path, 100)));
  // The rest may wait for the database: on the console's own threads.
  later([this, request = request, send]() mutable {
    const std::string& p = request.path;
    const bool get = request.method == "GET";
    if (p == "/api/login" && request.method == "POST") return send(login(request));
    if (p == "/api/logout" && request.method == "POST") return send(logout(request));
    if (p == "/api/session" && get) return send(session_info(request));
    if (p == "/api/relays" && get) return send(with_session(request, false, [](Session& s) { return list_relays(s.db); }));
    if (p == "/api/inboxes" && get) return send(with_session(request, false, [](Session& s) { return list_inboxes(s.db); }));
    if (p == "/api/pipelines" && get)
      return send(with_session(request, false, [](Session& s) { return list_pipelines(s.db); }));
    // /api/pipelines/<name>[/<action>]: the server hands the path over unescaped, so a name may hold
    // any character; an action is read from the end.
    constexpr std::string_view kPipeline = "/api/pipelines/";
    if (p.rfind(kPipeline, 0) == 0 && p.size() > kPipeline.size()) {
      std::string_view rest = std::string_view(p).substr(kPipeline.size());
      if (get)
        return send(with_session(request, false, [&](Session& s) {
          http::Response r = pipeline_detail(s.db, std::string(rest));
          // The plots' history, once the role's own statement showed it the pipeline.
          if (r.status == 200 && history_ && !r.body.empty() && r.body.back() == '}')
            r.body.insert(r.body.size() - 1, ",\"history\":" + history_->json(std::string(rest)));
          return r;
        }));
      auto ends = [&](std::string_view suffix) {
        if (rest.size() <= suffix.size() || rest.substr(rest.size() - suffix.size()) != suffix) return false;
        rest.remove_suffix(suffix.size());
        return true;
      };
      if (request.method == "POST") {
        for (bool enable : {true, false})
          if (ends(enable ? "/enable" : "/disable"))
            return send(with_session(request, true, [&](Session& s) { return set_pipeline_enabled(s.db, std::string(rest), enable); }));
        if (ends("/backfill"))
          return send(with_session(request, true, [&](Session& s) { return start_backfill(s.db, std::string(rest)); }));
        for (bool discard : {true, false}) {
          if (!ends(discard ? "/discard" : "/replay")) continue;
          auto slash = rest.rfind('/');
          std::string id(slash == std::string_view::npos ? "" : rest.substr(slash + 1));
          if (slash != std::string_view::npos) rest.remove_suffix(rest.size() - slash);
          if (ends("/dead-letters"))
            return send(with_session(request, true, [&](Session& s) {
              return discard ? discard_dead_letter(s.db, std::string(rest), id) : replay_dead_letter(s.db, std::string(rest), id);
            }));
          break;
        }
      }
    }
    send(http::error_response(404, fmt::format("no such API call: {} {}", request.method, util::safe_excerpt(p, 100))));
  });
}

http::Response ConsoleServer::login(const http::Request& request) {
  // JSON only: a form another site posts cannot send it without the browser asking this server
  // first (a preflight it refuses), so no one is logged in behind their back.
  if (request.header("Content-Type").find("application/json") != 0)
    return http::error_response(415, "log in with a JSON body {\"role\": …, \"password\": …} (Content-Type: application/json)");
  if (int wait = limiter_.wait_seconds(request.peer); wait > 0) {
    http::Response r = http::error_response(429, fmt::format("Too many failed logins; try again in {} s.", wait));
    r.headers.emplace_back("Retry-After", std::to_string(wait));
    return r;
  }
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.value("role", nlohmann::json()).is_string() || !body.value("password", nlohmann::json()).is_string())
    return http::error_response(400, "log in with {\"role\": \"<PostgreSQL role>\", \"password\": \"<its password>\"}");
  const std::string role = body["role"].get<std::string>(), password = body["password"].get<std::string>();
  auto fail = [&](const std::string& why) {
    limiter_.failed(request.peer);
    log_.warn("A console login was refused.", {{"role", util::safe_excerpt(role, 64)}, {"peer", request.peer}, {"reason", why}});
    return http::error_response(401, "Login refused: " + why);
  };
  if (role.empty() || password.empty()) return fail("give a role and its password");
  auto db = pg::Connection::open_as(options_.postgres_url, role, password, "pgtrickle-relay console");
  // The server's own answer stays in the log; the page learns only that the pair was refused (it
  // would otherwise tell which roles exist).
  if (!db) {
    log_.debug("The console login's connection failed.", {{"error", db.error().message}});
    return fail("the role and password do not log in to the database");
  }
  // A server that trusts the connection (pg_hba.conf trust, peer, a certificate) never checked the
  // password: anyone could be anyone.
  if (!PQconnectionUsedPassword(db->raw()))
    return fail("the database did not ask for a password (its pg_hba.conf trusts this connection); the console logs in "
                "only where the server checks passwords (scram-sha-256)");
  std::string token;
  auto session = sessions_.open(role, std::move(*db), token);
  log_.info("Logged in to the console.", {{"role", role}, {"peer", request.peer}});
  http::Response r;
  r.body = nlohmann::json{{"role", role}, {"csrf", session->csrf}}.dump();
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(options_.sessions.lifetime).count();
  r.headers.emplace_back("Set-Cookie", fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}", kCookie, token, age,
                                                   tls_ ? "; Secure" : ""));
  return r;
}

http::Response ConsoleServer::logout(const http::Request& request) {
  http::Response r = with_session(request, true, [](Session&) { return http::Response{200, "{}"}; });
  if (r.status == 200) sessions_.close(cookie_token(request));
  r.headers.emplace_back("Set-Cookie", fmt::format("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", kCookie));
  return r;
}

http::Response ConsoleServer::session_info(const http::Request& request) {
  return with_session(request, false, [](Session& s) {
    return http::Response{200, nlohmann::json{{"role", s.role}, {"csrf", s.csrf}}.dump()};
  });
}

http::Response ConsoleServer::with_session(const http::Request& request, bool action,
                                           const std::function<http::Response(Session&)>& run) {
  auto session = sessions_.find(cookie_token(request));
  if (!session) return http::error_response(401, "Not logged in, or the session expired: log in again.");
  if (action && !same_secret(request.header("X-CSRF-Token"), session->csrf))
    return http::error_response(403, "Refused: the request does not carry this session's form token (X-CSRF-Token). "
                                     "Reload the page and act from it.");
  std::lock_guard lock(session->db_mu);
  return run(*session);
}

}  // namespace relay::console
