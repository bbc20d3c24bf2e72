// Helpers for tests against the real PostgreSQL started by scripts/test.sh: a fresh database per
// test, the relay binary as a child process, polling with a timeout.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pg/connection.h"

namespace relay::test {

std::string maintenance_url();
std::string url_for_database(const std::string& db);
std::string work_dir();  // a fresh directory for this test process's files
// `superuser_url` with the relay's test login (a role only in pgtrickle_relay) as its user; the
// login is made on that cluster the first time.
std::string relay_login_url(const std::string& superuser_url);

// Managed mode (PGTRICKLE_TEST_MANAGED_INSTALL=1, the ctest entry managed.install): as on managed
// PostgreSQL (RDS, Cloud SQL, Azure, Supabase), where no superuser exists, each test database
// belongs to, is installed by and is used by pgtrickle_test_installer, a LOGIN with CREATEROLE,
// REPLICATION and pg_signal_backend (what those services give their admin user, through roles of
// their own) and no more.
bool managed_install();

// A PostgreSQL server of a test's own, so it can be stopped or reconfigured without disturbing
// other tests. Each test has its own directory and port (55435 plus `offset`, or
// PGTRICKLE_TEST_PG_PORT2 plus `offset`): tests run in parallel. Stopped when it goes.
class OwnServer {
 public:
  explicit OwnServer(int offset);
  ~OwnServer() { stop(); }
  void start();
  void stop();
  std::string url(const std::string& db) const { return "postgresql://postgres@127.0.0.1:" + port_ + "/" + db; }
  // Creates the database `name` anew, empty.
  void fresh_database(const std::string& name) const;

 private:
  std::string dir_, port_;
};

class TestDb {
 public:
  explicit TestDb(bool install = true);
  ~TestDb();
  const std::string& name() const { return name_; }
  // The application and the installer: a superuser, or in managed mode the database's owner.
  std::string url() const;
  // The relay's own login: a role that is only a member of pgtrickle_relay (least privilege).
  std::string relay_url() const;
  pg::Connection& conn() { return conn_; }
  void exec(const std::string& sql);
  // The error message of a statement expected to fail ("" if it succeeded).
  std::string error_of(const std::string& sql);
  std::string value(const std::string& sql);
  long long number(const std::string& sql) { return std::stoll(value(sql)); }

 private:
  std::string name_;
  pg::Connection conn_;
};

// A program run as a child process, its stdout and stderr in files of work_dir(); killed when it
// goes. `env` entries (NAME=value) are added to the environment.
class ChildProcess {
 public:
  ChildProcess(const std::string& program, std::vector<std::string> args, const std::vector<std::string>& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  bool alive();
  void signal(int sig);
  void kill9() { signal(9); }
  // Waits for exit; returns the exit code (128+signal when killed), -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  std::string out() const;  // stdout so far
  std::string err() const;  // stderr so far
  const std::string& out_path() const { return out_path_; }
  double cpu_seconds() const;  // user + system CPU time used so far

 private:
  int pid_ = -1;
  int exit_code_ = -1;
  std::string out_path_, err_path_;
};

// The relay binary as a child process; PGTRICKLE_RELAY_SQL_FILE_DIR and _SQL_SECRETS_DIR are
// work_dir() unless `env` says otherwise.
class RelayProcess : public ChildProcess {
 public:
  explicit RelayProcess(std::vector<std::string> args, std::vector<std::string> env = {});
  // The port of /metrics and /health once the relay logged it (the relay is started on port 0).
  int admin_port(std::chrono::milliseconds timeout = std::chrono::seconds(10));
};

// A Java program of tests/java/ (scripts/java-tools.sh builds it once into a cache).
std::vector<std::string> java_tool(const std::string& name, const std::vector<std::string>& args);

// Arguments that run the relay on `db`, with /metrics on a free port.
std::vector<std::string> relay_args(const TestDb& db, const std::string& group = "default");
// A TOML file for the relay on `db` (its relay login, metrics on a free port) holding `pipelines`.
std::string write_toml(const TestDb& db, const std::string& pipelines);

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);
std::string http_get(int port, const std::string& path, int& status);
std::string read_file(const std::string& path);
// The whole (newline-ended) lines of a file, empty ones skipped.
std::vector<std::string> read_lines(const std::string& path);
std::vector<nlohmann::json> json_lines(const std::string& path);  // a JSON-lines file, parsed
// The payload ids a relay's file holds once it holds `count` distinct ones (within `timeout`; fewer
// if not): after a relay or server fault, a batch delivered but not acknowledged comes again (at
// least once), so the number of lines says nothing of what arrived.
std::set<int> wait_for_distinct_ids(const std::string& path, std::size_t count, std::chrono::milliseconds timeout);
std::string relay_binary();
// `bytes` of hex digits no compression shrinks much (a chain of SHA-256 digests of `seed`): text
// that stays as long in an index entry as it is.
std::string incompressible_text(size_t bytes, const std::string& seed = "");

}  // namespace relay::test

namespace relay::test {

// Runs a shell command, returns its exit code; `output` gets stdout and stderr.
int run_command(const std::string& cmd, std::string& output);
// `word` single-quoted for the shell (a clone's path may hold spaces or quotes).
std::string shell_quote(std::string_view word);
// A script of the source tree, quoted for the shell: "bash '<source>/scripts/pg-server.sh'".
std::string source_script(std::string_view relative);
// The last_error /health shows for `pipeline`, once it has one ("" if none within the timeout).
std::string wait_for_pipeline_error(RelayProcess& relay, const std::string& pipeline,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(15));
// A login "<db>_owner" owning schema `schema` (which everyone may use): a table owner whose code
// (types, policies, functions) a test checks never runs with more rights than its own.
std::string table_owner_with_schema(TestDb& db, const std::string& schema);
// The relay's login (db.relay_url()), given the REPLICATION attribute WAL capture needs (by a
// superuser: the operator's step; on managed PostgreSQL, its replication role).
std::string replication_login_url(TestDb& db);
// Whether a walsender streams a slot of this database (changes committed from now on reach it). A
// slot being created shows as active too, held by the creating backend (or by a walsender still
// in its startup), before its starting point is fixed: only a walsender streaming it counts (a
// login that may not see another role's walsender state, on managed PostgreSQL, takes any
// walsender). `slot_condition` (SQL on pg_replication_slots s) narrows the slots asked about.
bool slot_streams(TestDb& db, const std::string& slot_condition = "true");
// Waits for slot_streams: a new slot's creation waits for every transaction running on the server
// (other tests' too), so the wait is long.
bool slot_streams_soon(TestDb& db, const std::string& slot_condition = "true");

// Messages of a JSON-lines sink by their dedup_key, the first of each; `repeats` counts the others,
// each expected (EXPECT) to equal the first: a message sent again is the same message.
std::map<std::string, nlohmann::json> by_identity(const std::vector<nlohmann::json>& lines, size_t& repeats);

// set_relay_outbox / set_relay_inbox(name, config => <config>).
void set_outbox_pipeline(TestDb& db, const std::string& name, const nlohmann::json& config);
void set_inbox_pipeline(TestDb& db, const std::string& name, const nlohmann::json& config);

// Holds SHARE on a table (the relay's INSERTs wait, reads go on) until release() or destruction:
// how a test keeps a batch between the source and the inbox commit.
class TableLock {
 public:
  TableLock(const TestDb& db, const std::string& table);
  ~TableLock() { release(); }
  void release();

 private:
  pg::Connection conn_;
  bool held_ = false;
};
// Whether the relay's insert into a table (an INSERT or a COPY, or the lock a pipeline defined in SQL
// takes on its inbox first) is waiting for a lock within `timeout`.
bool insert_blocked(TestDb& db, std::chrono::milliseconds timeout);

// The value of a series on the relay's /metrics (e.g. `x_total{pipeline="p"}`): the sum of every
// series of that name carrying these labels (as a PromQL `sum` over the others would), -1 when none.
double metric(int port, const std::string& series);
// The pipelines the relay owns now (its pgtrickle_relay_pipelines_owned gauge).
int owned(RelayProcess& relay);
// A pipeline's series `name{pipeline="..."}` on the relay's /metrics.
double pipeline_metric(RelayProcess& relay, const std::string& name, const std::string& pipeline);
// The messages a pipeline delivered (pgtrickle_relay_messages_delivered_total).
double delivered(RelayProcess& relay, const std::string& pipeline);
// The messages a reverse pipeline's inbox already held (pgtrickle_relay_dedup_skipped_total).
double dedup_skipped(RelayProcess& relay, const std::string& pipeline);
// A relay on `url`, its /metrics on a free port.
std::vector<std::string> relay_args_for(const std::string& url);
// A connection to `url`, named `application`; throws when it cannot be opened.
relay::pg::Connection connect_to(const std::string& url, const std::string& application);

// A server started by scripts/pg-server.sh or scripts/servers/<kind>.sh on a port of the test's own,
// in a directory of its own; its data directory survives stop() and start().
class PrivateServer {
 public:
  // kind: pg, kafka, nats, redis, rabbitmq or sqs. `env` is put before the script (e.g. REDIS_SERVER_ARGS=...).
  PrivateServer(std::string kind, int port, std::string env = "");
  ~PrivateServer();
  PrivateServer(const PrivateServer&) = delete;
  void start();
  void stop();  // and waits for the process to be gone
  void kill();  // kill -9, and waits for the process to be gone
  void freeze();  // kill -STOP
  void thaw();    // kill -CONT
  // The URL the script printed (postgresql://..., nats://..., redis://..., amqp://..., http://...).
  const std::string& url() const { return url_; }
  // Points the backend harnesses (which read PGTRICKLE_TEST_<X>_URL) at this server until it is
  // destroyed. (The Redis and RabbitMQ helpers keep the first URL they see: one such server per process.)
  void export_to_harnesses();

 private:
  std::string script() const;
  int pid() const;
  std::string kind_, dir_, env_;
  int port_;
  std::string url_, exported_;
  std::optional<std::string> previous_;
  bool running_ = false, frozen_ = false;
};

}  // namespace relay::test
