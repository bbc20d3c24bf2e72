#include "fixture.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "pg/catalog.h"
#include "util/digest.h"

namespace relay::test {

std::string maintenance_url() {
  const char* u = std::getenv("PGTRICKLE_TEST_POSTGRES_URL");
  if (!u || !*u) {
    ADD_FAILURE() << "PGTRICKLE_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh";
    return "postgresql://postgres@127.0.0.1:55433/postgres";
  }
  return u;
}

std::string url_for_database(const std::string& db) {
  std::string u = maintenance_url();
  auto q = u.find('?');
  std::string query = q == std::string::npos ? "" : u.substr(q);
  std::string base = u.substr(0, q);
  auto slash = base.rfind('/');
  return base.substr(0, slash + 1) + db + query;
}

std::string work_dir() {
  static std::string dir = [] {
    const char* base = std::getenv("PGTRICKLE_TEST_WORK_DIR");
    std::string d = std::string(base && *base ? base : "/tmp") + "/it-" + std::to_string(::getpid());
    // With its parents: a child's output files are opened here, and a missing base would send its
    // logs to the test's own stderr.
    std::error_code ec;
    std::filesystem::create_directories(d, ec);
    return d;
  }();
  return dir;
}

// PGTRICKLE_TEST_RELAY_BINARY: another build of the relay (scripts/sanitize.sh runs the tests
// against the sanitized one).
std::string relay_binary() {
  const char* other = std::getenv("PGTRICKLE_TEST_RELAY_BINARY");
  return other && *other ? other : RELAY_BINARY;
}

namespace {
std::atomic<int> g_counter{0};
// The relay runs as this role in every test: LOGIN, member of pgtrickle_relay, nothing else.
constexpr const char* kRelayLogin = "pgtrickle_relay_tester";

pg::Connection must_connect(const std::string& url) {
  auto c = pg::Connection::open(url, "relay-test");
  if (!c) throw std::runtime_error("cannot connect to " + url + ": " + c.error().message);
  return std::move(*c);
}
}  // namespace

bool managed_install() {
  const char* m = std::getenv("PGTRICKLE_TEST_MANAGED_INSTALL");
  return m && *m && std::string(m) != "0";
}

namespace {
constexpr const char* kManagedInstaller = "pgtrickle_test_installer";

// `url` with `user` as its user.
std::string with_user(const std::string& url, const std::string& user) {
  auto scheme = url.find("://");
  auto at = url.find('@', scheme);
  if (scheme == std::string::npos || at == std::string::npos) return url;
  return url.substr(0, scheme + 3) + user + url.substr(at);
}
}  // namespace

TestDb::TestDb(bool install) {
  name_ = "relay_t_" + std::to_string(::getpid()) + "_" + std::to_string(g_counter++);
  auto admin = must_connect(maintenance_url());
  if (managed_install())
    (void)admin.exec(std::string("DO $$ BEGIN CREATE ROLE ") + kManagedInstaller +
                     " LOGIN CREATEROLE REPLICATION NOSUPERUSER IN ROLE pg_signal_backend; "
                     "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");
  // From PostgreSQL 16 on, a CREATEROLE login administers only the roles it made (a membership with
  // ADMIN OPTION, without SET or INHERIT). Where the install's roles were made first by tests run as
  // a superuser on this server, the installer gets that membership in them, as if it had made them.
  if (managed_install())
    (void)admin.exec(std::string("DO $$ DECLARE r text; BEGIN "
                     "IF current_setting('server_version_num')::int < 160000 THEN RETURN; END IF; "
                     "FOR r IN SELECT rolname FROM pg_roles WHERE rolname IN ('pgtrickle_relay', 'pgtrickle_relay_admin', "
                     "'pgtrickle_owner', '") + kRelayLogin + "') LOOP "
                     "EXECUTE format('GRANT %I TO " + kManagedInstaller + " WITH ADMIN OPTION, INHERIT FALSE, SET FALSE', r); "
                     "END LOOP; END $$");
  auto r = admin.exec("CREATE DATABASE " + admin.quote_ident(name_) + (managed_install() ? std::string(" OWNER ") + kManagedInstaller : ""));
  if (!r) throw std::runtime_error("CREATE DATABASE failed: " + r.error().message);
  conn_ = must_connect(url());
  if (install) {
    auto s = pg::install_schema(conn_);
    if (!s) throw std::runtime_error("install failed: " + s.error().message);
  }
}

std::string relay_login_url(const std::string& superuser_url) {
  auto scheme = superuser_url.find("://");
  auto at = superuser_url.find('@', scheme);
  if (scheme == std::string::npos || at == std::string::npos) return superuser_url;
  // Roles are cluster-wide and test processes run side by side: create the login once per
  // cluster, quietly (pgtrickle_relay is made by the install; made here too when a test installs later).
  static std::mutex mu;
  static std::set<std::string> clusters;
  std::string cluster = superuser_url.substr(at, superuser_url.find('/', at) - at);
  std::lock_guard lock(mu);
  if (!clusters.count(cluster)) {
    auto c = must_connect(superuser_url);
    for (const std::string role : {"pgtrickle_relay", kRelayLogin})
      (void)c.exec("DO $$ BEGIN CREATE ROLE " + role + (role == kRelayLogin ? " LOGIN" : "") +
                   "; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");
    auto g = c.exec(std::string("GRANT pgtrickle_relay TO ") + kRelayLogin);
    if (!g) throw std::runtime_error("cannot grant pgtrickle_relay to the relay's login: " + g.error().message);
    clusters.insert(cluster);
  }
  return superuser_url.substr(0, scheme + 3) + kRelayLogin + superuser_url.substr(at);
}

std::string TestDb::url() const {
  return managed_install() ? with_user(url_for_database(name_), kManagedInstaller) : url_for_database(name_);
}

std::string TestDb::relay_url() const { return relay_login_url(url()); }

TestDb::~TestDb() {
  conn_ = pg::Connection();
  auto admin = pg::Connection::open(maintenance_url(), "relay-test");
  if (!admin) return;
  // A logical slot keeps its database from being dropped (and would hold the server's WAL).
  const std::string slots = "FROM pg_replication_slots WHERE database = " + pg::quote_literal(name_);
  for (int i = 0; i < 100; ++i) {
    auto active = admin->exec("SELECT count(pg_terminate_backend(active_pid)) " + slots + " AND active_pid IS NOT NULL");
    if (!active || active->str(0, 0) == "0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (void)admin->exec("SELECT pg_drop_replication_slot(slot_name) " + slots);
  (void)admin->exec("DROP DATABASE IF EXISTS " + admin->quote_ident(name_) + " WITH (FORCE)");
}

void TestDb::exec(const std::string& sql) {
  auto r = conn_.exec(sql);
  if (!r) throw std::runtime_error("SQL failed: " + r.error().message + "\n  in: " + sql);
}

std::string TestDb::error_of(const std::string& sql) {
  auto r = conn_.exec(sql);
  return r ? "" : r.error().message;
}

std::string TestDb::value(const std::string& sql) {
  auto r = conn_.exec(sql);
  if (!r) throw std::runtime_error("SQL failed: " + r.error().message + "\n  in: " + sql);
  if (r->rows() == 0 || r->null(0, 0)) return "";
  return r->str(0, 0);
}

ChildProcess::ChildProcess(const std::string& program, std::vector<std::string> args, const std::vector<std::string>& env) {
  static std::atomic<int> n{0};
  std::string base = work_dir() + "/child-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
  out_path_ = base + ".out";
  err_path_ = base + ".err";
  std::vector<std::string> environment = env;  // kept alive for putenv
  pid_ = ::fork();
  if (pid_ == 0) {
    int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::setpgid(0, 0);
    for (auto& e : environment) ::putenv(e.data());
    std::vector<char*> argv;
    std::string bin = program;
    argv.push_back(bin.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(bin.c_str(), argv.data());
    ::_exit(127);
  }
}

// Pipelines defined in SQL write files only under --sql-file-dir and read certificates and keys
// only under --sql-secrets-dir: the tests' files are in work_dir() (a test may set other
// directories, or none, in `env` or a flag).
static std::vector<std::string> relay_env(std::vector<std::string> env) {
  env.insert(env.begin(), {"PGTRICKLE_RELAY_SQL_FILE_DIR=" + work_dir(), "PGTRICKLE_RELAY_SQL_SECRETS_DIR=" + work_dir()});
  return env;
}

RelayProcess::RelayProcess(std::vector<std::string> args, std::vector<std::string> env)
    : ChildProcess(relay_binary(), std::move(args), relay_env(std::move(env))) {}

std::vector<std::string> java_tool(const std::string& name, const std::vector<std::string>& args) {
  std::vector<std::string> all = {std::string(RELAY_SOURCE_DIR) + "/scripts/java-tools.sh", name};
  all.insert(all.end(), args.begin(), args.end());
  return all;
}

ChildProcess::~ChildProcess() {
  if (alive()) {
    kill9();
    wait(std::chrono::seconds(5));
  }
}

bool ChildProcess::alive() {
  if (exit_code_ >= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

void ChildProcess::signal(int sig) {
  if (exit_code_ < 0) ::kill(pid_, sig);
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
  wait_until([&] { return !alive(); }, timeout);
  return exit_code_;
}

std::string incompressible_text(size_t bytes, const std::string& seed) {
  std::string out, digest = seed;
  while (out.size() < bytes) out += digest = util::sha256_hex(digest);
  out.resize(bytes);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream f(path);
  std::string line;
  // Only whole lines: the last one may be mid-write while a relay appends.
  while (std::getline(f, line))
    if (!line.empty() && !f.eof()) out.push_back(line);
  return out;
}

std::set<int> wait_for_distinct_ids(const std::string& path, std::size_t count, std::chrono::milliseconds timeout) {
  std::set<int> ids;
  wait_until([&] {
    ids.clear();
    for (const auto& l : read_lines(path)) ids.insert(nlohmann::json::parse(l)["payload"]["id"].get<int>());
    return ids.size() >= count;
  }, timeout);
  return ids;
}

std::vector<nlohmann::json> json_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (const auto& l : read_lines(path)) out.push_back(nlohmann::json::parse(l));
  return out;
}

std::string ChildProcess::out() const { return read_file(out_path_); }
std::string ChildProcess::err() const { return read_file(err_path_); }

double ChildProcess::cpu_seconds() const {
  // /proc/<pid>/stat: utime and stime are the 12th and 13th fields after the ")" ending the name.
  std::string stat = read_file("/proc/" + std::to_string(pid_) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(stat.substr(close + 1));
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 13 && in >> field; ++i)
    if (i >= 12) ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int RelayProcess::admin_port(std::chrono::milliseconds timeout) {
  int port = -1;
  std::regex re("Serving /metrics and /health\\..*port[=\":]+([0-9]+)");
  wait_until([&] {
    std::smatch m;
    std::string e = err();
    if (std::regex_search(e, m, re)) port = std::stoi(m[1]);
    return port > 0;
  }, timeout);
  return port;
}

std::string write_toml(const TestDb& db, const std::string& pipelines) {
  static std::atomic<int> n{0};
  std::string path = fmt::format("{}/relay-{}-{}.toml", work_dir(), db.name(), n++);
  std::ofstream f(path);
  f << "[global]\npostgres_url = \"" << db.relay_url() << "\"\nmetrics_bind = \"127.0.0.1:0\"\n\n" << pipelines;
  return path;
}

std::vector<std::string> relay_args(const TestDb& db, const std::string& group) {
  return {"--postgres-url", db.relay_url(), "--metrics-addr", "127.0.0.1:0", "--relay-group-id", group};
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

std::string http_get(int port, const std::string& path, int& status) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);
  auto res = c.Get(path.c_str());
  if (!res) {
    status = -1;
    return "";
  }
  status = res->status;
  return res->body;
}

}  // namespace relay::test

namespace relay::test {

int run_command(const std::string& cmd, std::string& output) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  output.clear();
  while (size_t n = ::fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string shell_quote(std::string_view word) {
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string source_script(std::string_view relative) {
  return "bash " + shell_quote(std::string(RELAY_SOURCE_DIR) + "/" + std::string(relative));
}

std::string table_owner_with_schema(TestDb& db, const std::string& schema) {
  std::string owner = db.name() + "_owner";
  db.exec("CREATE ROLE " + owner + " LOGIN");
  // Without a superuser, the installing role acts for a table's owner by membership, as the error
  // of enable_outbox says to grant (and as CREATE SCHEMA ... AUTHORIZATION needs).
  if (managed_install()) db.exec("GRANT " + owner + " TO CURRENT_USER");
  db.exec("CREATE SCHEMA " + schema + " AUTHORIZATION " + owner);
  db.exec("GRANT USAGE ON SCHEMA " + schema + " TO PUBLIC");
  return owner;
}

std::string wait_for_pipeline_error(RelayProcess& relay, const std::string& pipeline, std::chrono::milliseconds timeout) {
  std::string error;
  wait_until([&] {
    int status = 0;
    auto body = nlohmann::json::parse(http_get(relay.admin_port(), "/health", status), nullptr, false);
    if (body.is_discarded()) return false;
    for (const auto& p : body.value("pipelines", nlohmann::json::array()))
      if (p.value("name", "") == pipeline && p.contains("last_error") && p["last_error"].is_string())
        error = p["last_error"].get<std::string>();
    return !error.empty();
  }, timeout);
  return error;
}

namespace {

// name{a="x",b="y"} -> name and its labels (values without quotes; no escapes in test labels).
std::pair<std::string, std::map<std::string, std::string>> parse_series(std::string_view s) {
  std::map<std::string, std::string> labels;
  auto brace = s.find('{');
  std::string name(s.substr(0, brace));
  if (brace == std::string_view::npos) return {name, labels};
  std::string_view rest = s.substr(brace + 1);
  while (!rest.empty() && rest.front() != '}') {
    auto eq = rest.find("=\"");
    auto end = rest.find('"', eq + 2);
    if (eq == std::string_view::npos || end == std::string_view::npos) break;
    labels[std::string(rest.substr(0, eq))] = std::string(rest.substr(eq + 2, end - eq - 2));
    rest = rest.substr(end + 1);
    if (!rest.empty() && rest.front() == ',') rest.remove_prefix(1);
  }
  return {name, labels};
}

}  // namespace

double metric(int port, const std::string& series) {
  int status = 0;
  std::string body = http_get(port, "/metrics", status);
  auto [name, want] = parse_series(series);
  double sum = 0;
  bool found = false;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    auto [n, labels] = parse_series(std::string_view(line).substr(0, space));
    if (n != name) continue;
    bool match = std::all_of(want.begin(), want.end(), [&](const auto& kv) {
      auto it = labels.find(kv.first);
      return it != labels.end() && it->second == kv.second;
    });
    if (!match) continue;
    sum += std::stod(line.substr(space + 1));
    found = true;
  }
  return found ? sum : -1;
}

int owned(RelayProcess& relay) { return static_cast<int>(metric(relay.admin_port(), "pgtrickle_relay_pipelines_owned")); }

double pipeline_metric(RelayProcess& relay, const std::string& name, const std::string& pipeline) {
  return metric(relay.admin_port(), name + "{pipeline=\"" + pipeline + "\"}");
}

double delivered(RelayProcess& relay, const std::string& pipeline) {
  return pipeline_metric(relay, "pgtrickle_relay_messages_delivered_total", pipeline);
}

double dedup_skipped(RelayProcess& relay, const std::string& pipeline) {
  return pipeline_metric(relay, "pgtrickle_relay_dedup_skipped_total", pipeline);
}

std::vector<std::string> relay_args_for(const std::string& url) { return {"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"}; }

relay::pg::Connection connect_to(const std::string& url, const std::string& application) {
  auto c = relay::pg::Connection::open(url, application);
  if (!c) throw std::runtime_error(c.error().message);
  return std::move(*c);
}

std::string replication_login_url(TestDb& db) {
  std::string url = db.relay_url();
  std::string login = url.substr(url.find("://") + 3, url.find('@') - url.find("://") - 3);
  // Tests running beside each other give the same login REPLICATION: once is enough, and one that
  // loses the race to update the role's row ("tuple concurrently updated") tries again.
  auto c = must_connect(maintenance_url());
  for (int attempt = 1;; ++attempt) {
    auto has = c.exec("SELECT rolreplication FROM pg_catalog.pg_roles WHERE rolname = $1", {login});
    if (has && has->rows() == 1 && has->boolean(0, 0)) return url;
    auto r = c.exec("ALTER ROLE " + login + " REPLICATION");
    if (r) return url;
    if (attempt >= 10 || r.error().message.find("concurrently updated") == std::string::npos)
      throw std::runtime_error("cannot give the relay's login REPLICATION: " + r.error().message);
    std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt));
  }
}

bool slot_streams(TestDb& db, const std::string& slot_condition) {
  return db.number("SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
                   "WHERE s.database = current_database() AND r.state IS DISTINCT FROM 'startup' AND (" + slot_condition + ")") >= 1;
}

bool slot_streams_soon(TestDb& db, const std::string& slot_condition) {
  return wait_until([&] { return slot_streams(db, slot_condition); }, std::chrono::seconds(60));
}

std::map<std::string, nlohmann::json> by_identity(const std::vector<nlohmann::json>& lines, size_t& repeats) {
  std::map<std::string, nlohmann::json> first;
  repeats = 0;
  for (const auto& m : lines) {
    auto [it, fresh] = first.emplace(m["dedup_key"].get<std::string>(), m);
    if (!fresh) {
      ++repeats;
      EXPECT_EQ(it->second, m) << "a repeat is the same message";
    }
  }
  return first;
}

void set_outbox_pipeline(TestDb& db, const std::string& name, const nlohmann::json& config) {
  db.exec("SELECT pgtrickle.set_relay_outbox(" + pg::quote_literal(name) + ", config => " + pg::quote_literal(config.dump()) + "::jsonb)");
}

void set_inbox_pipeline(TestDb& db, const std::string& name, const nlohmann::json& config) {
  db.exec("SELECT pgtrickle.set_relay_inbox(" + pg::quote_literal(name) + ", config => " + pg::quote_literal(config.dump()) + "::jsonb)");
}

TableLock::TableLock(const TestDb& db, const std::string& table) {
  auto c = pg::Connection::open(db.url(), "test lock");
  if (!c) throw std::runtime_error(c.error().message);
  conn_ = std::move(*c);
  for (std::string sql : {std::string("BEGIN"), "LOCK TABLE " + table + " IN SHARE MODE"})
    if (auto r = conn_.exec(sql); !r) throw std::runtime_error(r.error().message);
  held_ = true;
}

void TableLock::release() {
  if (held_) (void)conn_.exec("COMMIT");
  held_ = false;
}

bool insert_blocked(TestDb& db, std::chrono::milliseconds timeout) {
  return wait_until([&] {
    return db.number("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND (query LIKE 'INSERT INTO%' OR "
                     "query LIKE 'COPY %' OR query LIKE 'BEGIN; SELECT pgtrickle._inbox_lock(%')") > 0;
  }, timeout);
}

OwnServer::OwnServer(int offset)
    : dir_(work_dir() + "/own-pg-" + std::to_string(offset)),
      port_(std::to_string(std::stoi(std::getenv("PGTRICKLE_TEST_PG_PORT2") ? std::getenv("PGTRICKLE_TEST_PG_PORT2") : "55435") + offset)) {
  start();
}

void OwnServer::start() {
  std::string out;
  if (run_command(source_script("scripts/pg-server.sh") + " start " + shell_quote(dir_) + " " + port_, out) != 0)
    ADD_FAILURE() << "pg-server.sh start: " << out;
}

void OwnServer::stop() {
  std::string out;
  run_command(source_script("scripts/pg-server.sh") + " stop " + shell_quote(dir_), out);
}

void OwnServer::fresh_database(const std::string& name) const {
  auto admin = pg::Connection::open(url("postgres"), "own-server");
  ASSERT_TRUE(admin) << admin.error().message;
  ASSERT_TRUE(admin->exec("DROP DATABASE IF EXISTS " + name));
  ASSERT_TRUE(admin->exec("CREATE DATABASE " + name));
}

// ---- PrivateServer ------------------------------------------------------------------------------

PrivateServer::PrivateServer(std::string kind, int port, std::string env)
    : kind_(std::move(kind)), dir_(work_dir() + "/" + kind_ + "-" + std::to_string(port)), env_(std::move(env)), port_(port) {
  start();
}

PrivateServer::~PrivateServer() {
  if (frozen_) thaw();
  if (running_) stop();
  if (!exported_.empty()) {
    if (previous_) ::setenv(exported_.c_str(), previous_->c_str(), 1);
    else ::unsetenv(exported_.c_str());
  }
}

std::string PrivateServer::script() const {
  return source_script(kind_ == "pg" ? "scripts/pg-server.sh" : "scripts/servers/" + kind_ + ".sh");
}

void PrivateServer::start() {
  std::string out;
  std::string cmd = env_ + " " + script() + " start " + shell_quote(dir_) + " " + std::to_string(port_) + " 2>" + shell_quote(dir_ + ".start.log");
  ::mkdir(dir_.c_str(), 0755);
  if (run_command(cmd, out) != 0) throw std::runtime_error(cmd + " failed: " + out + read_file(dir_ + ".start.log"));
  // pg-server.sh prints the URL; the broker scripts print NAME=url.
  std::string line = out.substr(0, out.find('\n'));
  url_ = kind_ == "pg" ? line : line.substr(line.find('=') + 1);
  running_ = true;
}

int PrivateServer::pid() const {
  std::string file = kind_ == "pg" ? dir_ + "/data/postmaster.pid"
                   : kind_ == "sqs" ? dir_ + "/fauxqs.pid"
                   : dir_ + "/" + kind_ + ".pid";
  std::string text = read_file(file);
  try {
    return std::stoi(text);
  } catch (...) {
    return -1;
  }
}

void PrivateServer::stop() {
  if (frozen_) thaw();
  int p = pid();
  std::string out;
  run_command(script() + " stop " + shell_quote(dir_), out);
  // The scripts only signal some servers: wait until the process is gone, so the port is free.
  if (p > 0 && !wait_until([&] { return ::kill(p, 0) != 0; }, std::chrono::seconds(30))) {
    // A stop the server did not act on (its tool timed out on a busy machine) must not leave it
    // running: the restart would then meet the old node.
    std::cerr << kind_ << " did not stop within 30 s; killing it\n";
    ::kill(p, SIGKILL);
    wait_until([&] { return ::kill(p, 0) != 0; }, std::chrono::seconds(10));
  }
  running_ = false;
}

void PrivateServer::kill() {
  if (frozen_) thaw();
  int p = pid();
  if (p > 0) {
    ::kill(p, SIGKILL);
    wait_until([&] { return ::kill(p, 0) != 0; }, std::chrono::seconds(10));
  }
  running_ = false;
}

void PrivateServer::freeze() {
  ASSERT_GT(pid(), 0) << kind_ << " has no pid file";
  ::kill(pid(), SIGSTOP);
  frozen_ = true;
}

void PrivateServer::thaw() {
  if (pid() > 0) ::kill(pid(), SIGCONT);
  frozen_ = false;
}

void PrivateServer::export_to_harnesses() {
  const char* var = kind_ == "pg" ? "PGTRICKLE_TEST_POSTGRES_URL"
                  : kind_ == "nats" ? "PGTRICKLE_TEST_NATS_URL"
                  : kind_ == "redis" ? "PGTRICKLE_TEST_REDIS_URL"
                  : kind_ == "rabbitmq" ? "PGTRICKLE_TEST_RABBITMQ_URL"
                  : kind_ == "kafka" ? "PGTRICKLE_TEST_KAFKA_BROKERS"
                  : "PGTRICKLE_TEST_SQS_ENDPOINT";
  if (exported_.empty()) {
    exported_ = var;
    if (const char* v = std::getenv(var)) previous_ = v;
  }
  ::setenv(var, url_.c_str(), 1);
}

}  // namespace relay::test
