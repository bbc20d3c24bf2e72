#include "app/cli.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "app/build_info.h"
#include "app/man_page.h"
#include "backends/postgres/relay_shared.h"
#include "core/executor.h"
#include "config/file_config.h"
#include "config/spec_export.h"
#include "core/health.h"
#include "core/stop_request.h"
#include "backends/registry.h"
#include "core/supervisor.h"
#include "console/console_server.h"
#include "http/admin_server.h"
#include "log/log.h"
#include "pg/catalog.h"
#include "pg/connection_pool.h"
#include "pg/shared_lookup.h"
#include "util/memory.h"
#include "util/strings.h"

#if RELAY_WITH_KAFKA
#include <librdkafka/rdkafka.h>
#endif

namespace relay::app {
namespace {

// Where the relay keeps files of its own unless told: systemd's StateDirectory, else the XDG state
// directory of the user it runs as.
std::string default_state_dir() {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v && *v ? v : "";
  };
  if (std::string systemd = env("STATE_DIRECTORY"); !systemd.empty()) return systemd.substr(0, systemd.find(':'));
  if (std::string xdg = env("XDG_STATE_HOME"); !xdg.empty()) return xdg + "/pgtrickle-relay";
  if (std::string home = env("HOME"); !home.empty() && home != "/") return home + "/.local/state/pgtrickle-relay";
  return "/var/lib/pgtrickle-relay";
}

struct Settings {
  std::string postgres_url;
  std::string metrics_addr = "0.0.0.0:9090";
  std::string log_format = "text";
  std::string log_level = "info";
  std::string relay_group_id = "default";
  std::string config;
  double lease_timeout = 4;  // with a ping each second and standbys trying twice a second: a takeover within 5 s
  int database_pool_size = 4;
  std::string state_dir = default_state_dir();
  std::string console_addr, console_tls_cert, console_tls_key;
  int console_session_timeout = 1800;
  std::string sql_secrets_env_prefix, sql_secrets_dir, sql_file_dir, sql_allow_destinations;
  std::string sql_deny_destinations = kDefaultDenyDestinations;
};

std::string backends_line() {
  std::string src, snk, missing;
  for (const auto& b : compiled_backends()) {
    std::string& dst = !b.available() ? missing : b.spec->role == Role::source ? src : snk;
    dst += (dst.empty() ? "" : ", ") + std::string(b.spec->name) + (b.available() ? "" : std::string(" (") + to_string(b.spec->role) + ")");
  }
  return fmt::format("sources: {}\nsinks: {}\nnot in this build: {}", src, snk, missing.empty() ? "none" : missing);
}

// The versions of the libraries the binary runs with (linked statically or loaded), e.g. librdkafka,
// which must be 2.6.1 or later (docs/operations.md#librdkafka).
std::string libraries_line() {
  int pq = PQlibVersion();
  std::string out = fmt::format("libpq {}.{}", pq / 10000, pq % 100);
#if RELAY_WITH_KAFKA
  out += fmt::format(", librdkafka {}", rd_kafka_version_str());
#endif
  out += fmt::format(", OpenSSL {}", OpenSSL_version(OPENSSL_VERSION_STRING));
  if (auto jemalloc = util::jemalloc_version(); !jemalloc.empty()) out += ", jemalloc " + jemalloc;
  return out;
}

std::string worker_id() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}", host, ::getpid());
}

// Applies the TOML [global] values to settings not given by a flag or the environment.
void apply_file_globals(const GlobalSettings& g, Settings& s, const CLI::App& app) {
  auto unset = [&](const char* name) { return app.get_option(name)->count() == 0; };
  if (g.postgres_url && unset("--postgres-url")) s.postgres_url = *g.postgres_url;
  if (g.metrics_addr && unset("--metrics-addr")) s.metrics_addr = *g.metrics_addr;
  if (g.log_format && unset("--log-format")) s.log_format = *g.log_format;
  if (g.log_level && unset("--log-level")) s.log_level = *g.log_level;
  if (g.relay_group_id && unset("--relay-group-id")) s.relay_group_id = *g.relay_group_id;
  if (g.lease_timeout && unset("--lease-timeout")) s.lease_timeout = std::stod(*g.lease_timeout);
  if (g.database_pool_size && unset("--database-pool-size")) s.database_pool_size = std::stoi(*g.database_pool_size);
  if (g.state_dir && unset("--state-dir")) s.state_dir = *g.state_dir;
  if (g.console_addr && unset("--console-addr")) s.console_addr = *g.console_addr;
  if (g.console_tls_cert && unset("--console-tls-cert")) s.console_tls_cert = *g.console_tls_cert;
  if (g.console_tls_key && unset("--console-tls-key")) s.console_tls_key = *g.console_tls_key;
  if (g.console_session_timeout && unset("--console-session-timeout")) s.console_session_timeout = std::stoi(*g.console_session_timeout);
  if (g.sql_secrets_env_prefix && unset("--sql-secrets-env-prefix")) s.sql_secrets_env_prefix = *g.sql_secrets_env_prefix;
  if (g.sql_secrets_dir && unset("--sql-secrets-dir")) s.sql_secrets_dir = *g.sql_secrets_dir;
  if (g.sql_file_dir && unset("--sql-file-dir")) s.sql_file_dir = *g.sql_file_dir;
  if (g.sql_allow_destinations && unset("--sql-allow-destinations")) s.sql_allow_destinations = *g.sql_allow_destinations;
  if (g.sql_deny_destinations && unset("--sql-deny-destinations")) s.sql_deny_destinations = *g.sql_deny_destinations;
}

HostAccess host_access_of(const Settings& s) {
  HostAccess a;
  a.secrets_env_prefix = s.sql_secrets_env_prefix;
  a.secrets_dir = s.sql_secrets_dir;
  a.file_dir = s.sql_file_dir;
  auto add = [](std::vector<std::string>& out, std::string_view list) {
    for (auto d : util::split_list(list, ',')) {
      while (!d.empty() && d.front() == ' ') d.remove_prefix(1);
      while (!d.empty() && d.back() == ' ') d.remove_suffix(1);
      if (!d.empty()) out.emplace_back(d);
    }
  };
  add(a.allow_destinations, s.sql_allow_destinations);
  add(a.deny_destinations, s.sql_deny_destinations);
  return a;
}

int init_logging(const Settings& s) {
  log::Level level;
  if (!log::parse_level(s.log_level, level)) {
    std::cerr << fmt::format("error: --log-level \"{}\" is not one of trace, debug, info, warn, error, off\n", s.log_level);
    return 2;
  }
  if (s.log_format != "text" && s.log_format != "json") {
    std::cerr << fmt::format("error: --log-format \"{}\" must be text or json\n", s.log_format);
    return 2;
  }
  log::init(s.log_format == "json" ? log::Format::json : log::Format::text, level);
  return 0;
}

// How long a stop may take beyond the pipelines' drain limit: closing the sinks and the sessions.
constexpr std::chrono::seconds kStopMargin{5};

// Bounds a stop: once armed, the process exits with status 1 unless the stop finishes in time. A
// libpq call blocked on a connection whose server vanished (the network taken down with the stop)
// would otherwise hold the relay until it is killed. Exiting then loses nothing: delivery is at
// least once, and a position is stored only after the target accepted what it covers.
class StopWatchdog {
 public:
  explicit StopWatchdog(const HealthBoard& health) : health_(health) {}
  ~StopWatchdog() { finished(); }
  StopWatchdog(const StopWatchdog&) = delete;
  StopWatchdog& operator=(const StopWatchdog&) = delete;

  // Starts the clock (once); callable from any thread.
  void arm(std::chrono::milliseconds limit) {
    std::lock_guard lock(mu_);
    if (done_ || thread_.joinable()) return;
    thread_ = std::thread([this, limit] { watch(limit); });
  }
  // What the stop waits for now, named in the error if it does not finish.
  void waiting_for(std::string what) {
    std::lock_guard lock(mu_);
    waiting_for_ = std::move(what);
  }
  void finished() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    done_cv_.notify_all();
    if (thread_.joinable()) thread_.join();  // arm() starts no thread once done_ is set
  }

 private:
  void watch(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    if (done_cv_.wait_for(lock, limit, [this] { return done_; })) return;
    log::Logger("relay").error(
        "The stop did not finish in time; exiting without waiting. What was in flight is delivered again at the next "
        "start (delivery is at least once).",
        {{"waiting_for", waiting_for_}, {"pipelines_not_stopped", pipelines_not_stopped()},
         {"limit_seconds", std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit).count())}});
    std::_Exit(1);  // no destructor may run: they would wait for the blocked threads
  }
  std::string pipelines_not_stopped() const {
    std::vector<std::string> names;
    for (const auto& p : health_.snapshot())
      if (p.state != "stopped" && p.state != "invalid") names.push_back(p.name);
    return names.empty() ? "none" : util::join(names, ", ");
  }

  const HealthBoard& health_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::string waiting_for_;
  std::thread thread_;
};

// Blocks the signals the relay takes in every thread, so that only take_signals sees them and the others
// run undisturbed; ignores SIGPIPE.
sigset_t block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return set;
}

// The signal thread: SIGHUP reloads; SIGTERM or SIGINT stops the supervisor, the watchdog bounding the
// stop. Returns after a stop, or when `ended` is set and this thread is woken.
void take_signals(const sigset_t& set, Supervisor& supervisor, StopWatchdog& watchdog, std::chrono::milliseconds stop_limit,
                  const std::atomic<bool>& ended) {
  log::Logger log("relay");
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (ended) return;  // the supervisor ended by itself and woke this thread
    if (sig == SIGHUP) {  // systemctl reload: re-read the config file and the catalog
      log.info("Received SIGHUP; reloading the configuration.");
      supervisor.request_reload();
      continue;
    }
    if (const char* reason = relay_stop_reason())
      log.info("Stopping; draining.", {{"reason", reason}});
    else
      log.info("Received a stop signal; draining.", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    watchdog.arm(stop_limit);
    supervisor.request_stop();
    return;
  }
}

// Runs the relay until it is stopped; returns once every part of it has ended (2 when /metrics cannot
// be served).
int run_until_stopped(const Settings& s, const std::string& url, const sigset_t& signals_taken, metrics::Registry& registry,
                      HealthBoard& health, StopWatchdog& watchdog) {
  log::Logger log("relay");
  RelayContext ctx;
  // The pipelines and their readers run here; declared first, so it ends after every pipeline did.
  Executor executor;
  ctx.executor = &executor;
  ctx.worker_id = worker_id();
  Ownership ownership(url, ctx.worker_id, std::chrono::milliseconds(static_cast<long long>(s.lease_timeout * 1000)));
  ctx.ownership = &ownership;
  // No parallel workers for what the pool runs: monitoring and lookups must not take the cores
  // delivery needs. READ COMMITTED whatever the database's default: an outbox read sees every
  // commit numbered before it starts. Prepared statements keep their one plan: a caught-up read's
  // narrow range of commit numbers makes each custom plan look cheaper than the generic one (the
  // same index scans), so without this every read was planned again.
  pg::ConnectionPool pool(url, "pgtrickle-relay pool", static_cast<std::size_t>(s.database_pool_size),
                          "SET max_parallel_workers_per_gather = 0; SET default_transaction_isolation = 'read committed'; "
                          "SET plan_cache_mode = force_generic_plan");
  ctx.pool = &pool;
  pg::SharedLookup backfills(pool, "SELECT DISTINCT pipeline FROM pgtrickle.relay_backfills WHERE state IN ('pending', 'running')",
                             std::chrono::seconds(1));
  ctx.backfills = &backfills;
  StatusWriter status(pool, std::chrono::seconds(1),
                      {RELAY_VERSION, std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(),
                       s.relay_group_id, ctx.worker_id});
  ctx.status = &status;
  postgres::RelayShared postgres_shared(url, pool, executor);
  ctx.shared = {&postgres_shared};
  ctx.postgres_url = url;
  ctx.relay_group_id = s.relay_group_id;
  ctx.state_dir = s.state_dir;
  ctx.metrics = &registry;
  ctx.health = &health;
  ctx.sql_host_access = host_access_of(s);
  ctx.backends = compiled_backends();

  log.info("pgtrickle-relay starting.", {{"version", RELAY_VERSION}, {"git", kGitRevision}, {"libraries", libraries_line()},
                                          {"relay_group_id", s.relay_group_id},
                                          {"postgres", util::redact_url(s.postgres_url.empty() ? "(libpq defaults)" : s.postgres_url)},
                                          {"metrics_addr", s.metrics_addr}, {"worker", ctx.worker_id}});
  AdminServer admin(registry, health);
  if (auto st = admin.start(s.metrics_addr); !st) {
    log.error("Cannot serve /metrics and /health.", {{"error", st.error().message}});
    return 2;
  }
  log.info("Serving /metrics and /health.", {{"port", std::to_string(admin.port())}});
  std::optional<console::ConsoleServer> console;
  if (!s.console_addr.empty()) {
    console.emplace(console::Options{.address = s.console_addr, .tls_cert = s.console_tls_cert, .tls_key = s.console_tls_key,
                                     .postgres_url = url,
                                     .sessions = {.idle = std::chrono::seconds(s.console_session_timeout)},
                                     .pool = &pool});
    if (auto st = console->start(); !st) {
      log.error("Cannot serve the console.", {{"error", st.error().message}});
      admin.stop();
      return 2;
    }
  }
  Supervisor supervisor(ctx, s.config.empty() ? std::nullopt : std::optional<std::string>(s.config));
  std::atomic<bool> ended{false};
  std::thread signals(take_signals, std::cref(signals_taken), std::ref(supervisor), std::ref(watchdog),
                      ctx.drain_timeout + kStopMargin, std::cref(ended));
  watchdog.waiting_for("the supervisor: its database session and the pipelines' drain");
  supervisor.run();
  watchdog.waiting_for("the /metrics and /health server");
  if (console) console->stop();
  admin.stop();
  ended = true;
  pthread_kill(signals.native_handle(), SIGTERM);  // ends the sigwait if no signal came (stop by other means)
  signals.join();
  watchdog.waiting_for("the lease session");  // Ownership's destructor ends it, on return
  return 0;
}

int cmd_run(Settings s) {
  log::Logger log("relay");
  auto url = resolve_secret_string(s.postgres_url);
  if (!url) {
    log.error("The PostgreSQL URL cannot be resolved.", {{"error", url.error().message}});
    return 2;
  }
  if (s.config.size()) {
    std::vector<std::string> problems;
    load_config_file(s.config, problems);
    if (!problems.empty()) {
      for (const auto& p : problems) log.error("The config file has a problem.", {{"problem", p}});
      return 2;
    }
  }
  const sigset_t signals_taken = block_signals();
  if (!(s.lease_timeout >= 1 && s.lease_timeout <= 3600)) {
    log.error("--lease-timeout must be between 1 and 3600 seconds.", {{"value", fmt::format("{}", s.lease_timeout)}});
    return 2;
  }
  if (!(s.console_session_timeout >= 1 && s.console_session_timeout <= 86400)) {
    log.error("--console-session-timeout must be between 1 and 86400 seconds.", {{"value", std::to_string(s.console_session_timeout)}});
    return 2;
  }
  if (!(s.database_pool_size >= 1 && s.database_pool_size <= 100)) {
    log.error("--database-pool-size must be between 1 and 100 connections.", {{"value", std::to_string(s.database_pool_size)}});
    return 2;
  }
  metrics::Registry registry;
  HealthBoard health;
  StopWatchdog watchdog(health);
  int rc = run_until_stopped(s, *url, signals_taken, registry, health, watchdog);
  watchdog.finished();
  if (rc == 0) log.info("pgtrickle-relay stopped.");
  return rc;
}

int cmd_install(const Settings& s) {
  log::Logger log("relay");
  auto url = resolve_secret_string(s.postgres_url);
  if (!url) {
    std::cerr << "error: " << url.error().message << "\n";
    return 2;
  }
  auto c = pg::Connection::open(*url, "pgtrickle-relay install");
  if (!c) {
    std::cerr << "error: " << util::redact_url(c.error().message) << "\n";  // libpq quotes parts of a URL it cannot parse
    return 1;
  }
  if (auto st = pg::install_schema(*c); !st) {
    std::cerr << "error: the SQL install failed: " << st.error().message << "\n";
    return 1;
  }
  auto v = c->exec("SELECT current_database(), pgtrickle.relay_schema_version()");
  std::cout << fmt::format("Installed the pgtrickle-relay SQL (schema version {}) into database \"{}\".\n",
                           v ? v->str(0, 1) : "?", v ? v->str(0, 0) : "?");
  return 0;
}

// Prints what pgtrickle.relay_template_warnings finds in each forward pipeline (variables that are
// always empty for its outbox); warnings, not problems.
void print_template_warnings(pg::Connection& db, const std::vector<PipelineConfig>& pipelines) {
  for (const auto& p : pipelines) {
    if (p.direction != Direction::forward) continue;
    auto r = db.exec("SELECT w FROM pgtrickle.relay_template_warnings($1::jsonb) AS w", {p.canonical.dump()});
    if (!r) return;  // an install without the function: nothing to add
    for (int i = 0; i < r->rows(); ++i) std::cout << fmt::format("warning: pipeline \"{}\": {}\n", p.name, r->str(i, 0));
  }
}

// For each forward pipeline on a table captured from the WAL, what its start would refuse: the
// server's wal_level, the login's REPLICATION attribute, a free replication slot. Past a few such
// pipelines (each holds a slot and a replication connection), a warning points to one pipeline of
// source type "wal". Returns how many pipelines have problems.
int print_wal_problems(pg::Connection& db, const std::vector<PipelineConfig>& pipelines) {
  int with_problems = 0, single_table = 0;
  for (const auto& p : pipelines) {
    if (p.direction != Direction::forward) continue;
    const ConfigSection source = p.source_section();
    std::string target = source.has("stream_table") ? source.text("stream_table") : source.has("outbox") ? source.text("outbox") : "";
    if (target.empty()) continue;
    auto r = db.exec(
        "SELECT w.source_schema || '.' || w.source_table, current_setting('wal_level'), "
        "(SELECT rolreplication OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), "
        "(SELECT count(*) FROM pg_catalog.pg_replication_slots) >= current_setting('max_replication_slots')::int "
        "AND NOT EXISTS (SELECT 1 FROM pgtrickle.relay_slots AS r JOIN pg_catalog.pg_replication_slots AS s USING (slot_name) "
        "WHERE r.pipeline = $2) "
        "FROM pgtrickle.resolve_outbox($1) AS o CROSS JOIN LATERAL pgtrickle._outbox_wal_source(o.outbox_table) AS w",
        {target, p.name});
    if (!r || r->rows() == 0) continue;  // not captured from the WAL (or an install without WAL capture)
    ++single_table;
    const std::string table = r->str(0, 0);
    int problems = 0;
    auto problem = [&](const std::string& what) {
      std::cout << fmt::format("error: pipeline \"{}\": {} is captured from the WAL, but {}\n", p.name, table, what);
      ++problems;
    };
    if (r->str(0, 1) != "logical")
      problem(fmt::format("this server runs with wal_level = {}; set wal_level = logical in postgresql.conf and restart PostgreSQL",
                          r->str(0, 1)));
    if (!r->boolean(0, 2))
      problem("this login has no REPLICATION attribute, which reading a replication slot takes; run ALTER ROLE <login> REPLICATION");
    if (r->boolean(0, 3))
      problem("every replication slot of the server is taken; raise max_replication_slots (each WAL pipeline holds one) "
              "or drop unused slots");
    if (problems) ++with_problems;
  }
  if (single_table > 4)
    std::cout << fmt::format(
        "warning: {} pipelines each read a table captured from the WAL, each through a replication slot and connection of "
        "its own; one pipeline of source type \"wal\" reads many tables through one slot: source = {{ type = \"wal\", "
        "tables = [\"public.orders\", \"public.customers\"] }} (see docs/capture.md, \"Many tables, one slot\")\n",
        single_table);
  return with_problems;
}

// The tables each pipeline of source type "wal" captures now, and what stops one being captured
// whole (a table without a key: PostgreSQL refuses its UPDATEs and DELETEs while it is published).
void print_wal_tables(pg::Connection& c, const std::vector<PipelineConfig>& pipelines) {
  for (const auto& p : pipelines) {
    if (p.source_type != "wal") continue;
    auto r = c.exec("SELECT stream_table, problem FROM pgtrickle._wal_pipeline_tables($1::jsonb)", {p.canonical["source"].dump()});
    if (!r) {
      std::cout << fmt::format("error: pipeline \"{}\": cannot list the tables it captures: {}\n", p.name, r.error().message);
      continue;
    }
    std::vector<std::string> names;
    for (int i = 0; i < r->rows(); ++i) names.push_back(r->str(i, 0));
    std::cout << fmt::format("pipeline \"{}\" captures {} table(s) now{}{}\n", p.name, names.size(), names.empty() ? "" : ": ",
                             util::join(names, ", "));
    for (int i = 0; i < r->rows(); ++i)
      if (!r->null(i, 1)) std::cout << fmt::format("warning: pipeline \"{}\": {}\n", p.name, r->str(i, 1));
  }
}

int cmd_validate(const Settings& s, bool use_database) {
  int problems_total = 0;
  FileConfig cfg;
  if (!s.config.empty()) {
    std::vector<std::string> problems;
    cfg = load_config_file(s.config, problems);
    for (const auto& p : problems) std::cout << p << "\n";
    problems_total += static_cast<int>(problems.size());
    if (problems.empty()) std::cout << fmt::format("{}: {} pipeline(s), no problems.\n", s.config, cfg.pipelines.size());
  }
  if (use_database || s.config.empty()) {
    auto url = resolve_secret_string(s.postgres_url);
    if (!url) {
      std::cout << "error: " << url.error().message << "\n";
      return 1;
    }
    auto c = pg::Connection::open(*url, "pgtrickle-relay validate");
    if (!c) {
      std::cout << "error: " << util::redact_url(c.error().message) << "\n";
      return 1;
    }
    auto entries = pg::load_catalog(*c);
    if (!entries) {
      std::cout << "error: " << entries.error().message << "\n";
      return 1;
    }
    int bad = 0;
    std::vector<PipelineConfig> valid = cfg.pipelines;
    for (const auto& e : *entries) {
      for (const auto& p : e.problems) std::cout << p << "\n";
      if (!e.problems.empty()) ++bad;
      else valid.push_back(e.config);
      problems_total += static_cast<int>(e.problems.size());
    }
    print_template_warnings(*c, valid);
    print_wal_tables(*c, valid);
    int not_ready = print_wal_problems(*c, valid);
    bad += not_ready;
    problems_total += not_ready;
    std::cout << fmt::format("SQL catalog: {} pipeline(s), {} with problems.\n", entries->size(), bad);
  }
  return problems_total ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef M_ARENA_MAX
  // glibc gives each thread that allocates an arena of its own, up to 8 per core, and keeps what
  // they free: a pipeline's threads each hold their peak. Two arenas cost the relay no speed
  // (its threads mostly wait on sockets) and keep its memory near its working set.
  // MALLOC_ARENA_MAX still decides when set.
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);
#endif
  CLI::App app{"pgtrickle-relay: PostgreSQL outbox/inbox ⇄ message brokers.\n"
               "Pipelines live in SQL (pgtrickle.set_relay_outbox / set_relay_inbox) or a TOML file (--config)."};
  app.footer("Backends (pgtrickle-relay spec <backend> lists a backend's keys):\n" + backends_line());
  Settings s;
  app.option_defaults()->always_capture_default();  // --help and the man page show each default
  app.set_version_flag("--version", fmt::format("pgtrickle-relay {} (git {})\nLicense: Apache-2.0 <https://www.apache.org/licenses/LICENSE-2.0>\n{}\nlibraries: {}",
                                              RELAY_VERSION, kGitRevision, backends_line(), libraries_line()));
  app.add_option("--postgres-url", s.postgres_url, "PostgreSQL connection (URL or key=value); default: libpq's PG* variables")
      ->envname("PGTRICKLE_RELAY_POSTGRES_URL");
  app.add_option("--metrics-addr", s.metrics_addr, "Address of /metrics and /health")->envname("PGTRICKLE_RELAY_METRICS_ADDR");
  app.add_option("--log-format", s.log_format, "text or json")->envname("PGTRICKLE_RELAY_LOG_FORMAT");
  app.add_option("--log-level", s.log_level, "trace, debug, info, warn, error")->envname("PGTRICKLE_RELAY_LOG_LEVEL");
  app.add_option("--relay-group-id", s.relay_group_id, "Relays of one group share the pipelines")->envname("PGTRICKLE_RELAY_GROUP_ID");
  app.add_option("--lease-timeout", s.lease_timeout,
                 "Seconds after which a stalled relay's pipelines are taken over by another relay of the group")
      ->envname("PGTRICKLE_RELAY_LEASE_TIMEOUT");
  app.add_option("--database-pool-size", s.database_pool_size,
                 "Connections to the database the pipelines share for their reads and their own statements (positions, status, lag counts, backfill lookups)")
      ->envname("PGTRICKLE_RELAY_DATABASE_POOL_SIZE");
  app.add_option("--state-dir", s.state_dir,
                 "Directory of the relay's own files: big transactions held until their commit are spilled under it "
                 "(default: systemd's StateDirectory, else $XDG_STATE_HOME or ~/.local/state, /pgtrickle-relay)")
      ->envname("PGTRICKLE_RELAY_STATE_DIR");
  app.add_option("--console-addr", s.console_addr,
                 "host:port of the web console (off unless set; users log in with a PostgreSQL role and its password)")
      ->envname("PGTRICKLE_RELAY_CONSOLE_ADDR");
  app.add_option("--console-tls-cert", s.console_tls_cert, "The console's HTTPS certificate chain (PEM file); with --console-tls-key")
      ->envname("PGTRICKLE_RELAY_CONSOLE_TLS_CERT");
  app.add_option("--console-tls-key", s.console_tls_key, "The console's HTTPS private key (PEM file); with --console-tls-cert")
      ->envname("PGTRICKLE_RELAY_CONSOLE_TLS_KEY");
  app.add_option("--console-session-timeout", s.console_session_timeout,
                 "Seconds a console login may stay unused before it must log in again (1 to 86400; every login ends after 8 hours)")
      ->envname("PGTRICKLE_RELAY_CONSOLE_SESSION_TIMEOUT");
  app.add_option("--sql-secrets-env-prefix", s.sql_secrets_env_prefix,
                 "Pipelines defined in SQL may read ${ENV:NAME} only for names starting with this prefix (default: none)")
      ->envname("PGTRICKLE_RELAY_SQL_SECRETS_ENV_PREFIX");
  app.add_option("--sql-secrets-dir", s.sql_secrets_dir,
                 "Pipelines defined in SQL may read ${FILE:path} only under this directory (default: none)")
      ->envname("PGTRICKLE_RELAY_SQL_SECRETS_DIR");
  app.add_option("--sql-file-dir", s.sql_file_dir,
                 "File sinks of pipelines defined in SQL write only under this directory (default: none)")
      ->envname("PGTRICKLE_RELAY_SQL_FILE_DIR");
  app.add_option("--sql-allow-destinations", s.sql_allow_destinations,
                 "Hosts, host:port or CIDRs (comma-separated) that pipelines defined in SQL may connect to (default: any not denied)")
      ->envname("PGTRICKLE_RELAY_SQL_ALLOW_DESTINATIONS");
  app.add_option("--sql-deny-destinations", s.sql_deny_destinations,
                 "Hosts, host:port or CIDRs (comma-separated) that pipelines defined in SQL may never connect to")
      ->envname("PGTRICKLE_RELAY_SQL_DENY_DESTINATIONS");
  app.add_option("--config", s.config, "TOML file with [global] and [[pipeline]] entries")->envname("PGTRICKLE_RELAY_CONFIG");

  auto* run = app.add_subcommand("run", "Run the relay (the default)")->fallthrough();
  auto* install = app.add_subcommand("install", "Apply the SQL install to the database (idempotent)")->fallthrough();
  auto* validate = app.add_subcommand("validate", "Check the TOML file and/or the SQL catalog; print every problem")->fallthrough();
  bool validate_db = false;
  validate->add_flag("--catalog", validate_db, "Also check the SQL catalog when --config is given");
  auto* spec = app.add_subcommand("spec", "Show backend config keys")->fallthrough();
  std::string spec_backend;
  bool spec_sql = false, spec_md = false;
  spec->add_option("backend", spec_backend, "Backend name, or \"pipeline\" for pipeline options");
  spec->add_flag("--sql", spec_sql, "Print the spec rows of the SQL install");
  spec->add_flag("--markdown", spec_md, "Print the config reference in Markdown");
  auto* man = app.add_subcommand("man", "Print the manual page pgtrickle-relay(1) in roff (man -l <(pgtrickle-relay man))");
  app.require_subcommand(0, 1);
  (void)run;

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (man->parsed()) {
    std::cout << man_page(app);
    return 0;
  }
  if (spec->parsed()) {
    if (spec_sql) std::cout << spec_as_sql();
    else if (spec_md) std::cout << spec_as_markdown();
    else {
      std::string text = spec_as_text(spec_backend.empty() ? "pipeline" : spec_backend);
      if (text.empty()) {
        std::cerr << fmt::format("error: no backend \"{}\"\n{}\n", spec_backend, backends_line());
        return 2;
      }
      std::cout << text;
    }
    return 0;
  }
  if (!s.config.empty() && !validate->parsed()) {
    std::vector<std::string> problems;
    auto cfg = load_config_file(s.config, problems);
    apply_file_globals(cfg.global, s, app);
  }
  if (int rc = init_logging(s)) return rc;
  if (install->parsed()) return cmd_install(s);
  if (validate->parsed()) {
    if (!s.config.empty()) {
      std::vector<std::string> problems;
      auto cfg = load_config_file(s.config, problems);
      apply_file_globals(cfg.global, s, app);
    }
    return cmd_validate(s, validate_db);
  }
  return cmd_run(s);
}

}  // namespace relay::app
