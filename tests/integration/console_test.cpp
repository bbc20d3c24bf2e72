// The console in a real browser (tests/node/console.mjs drives Debian's Chromium): logins checked
// by the database, what a role may see and do, and the refusals of a wrong password, a forged
// action, a post from another site and an expired session.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "fixture.h"
#include "tls_certs.h"

using namespace relay::test;
using namespace std::chrono_literals;

namespace {

// Roles are the server's, shared by the tests running beside each other: each test has its own.
const std::string kAdmin = "pgtrickle_console_admin", kPlain = "pgtrickle_console_plain", kTls = "pgtrickle_console_tls",
                  kOnCall = "pgtrickle_console_oncall";

// The console's port once the relay logged it.
int console_port(RelayProcess& relay) {
  int port = -1;
  std::regex re("Serving the console\\..*port[=\":]+([0-9]+)");
  wait_until([&] {
    std::smatch m;
    std::string e = relay.err();
    if (std::regex_search(e, m, re)) port = std::stoi(m[1]);
    return port > 0;
  }, 15s);
  return port;
}

// The console logs in only where the server checks passwords: the test server trusts local logins,
// so its two roles get a scram-sha-256 line of their own at the top of pg_hba.conf.
void require_passwords_for_console_roles(TestDb& db) {
  const std::string hba = db.value("SHOW hba_file");
  const std::string line = "host all " + kAdmin + "," + kPlain + "," + kTls + "," + kOnCall + " 127.0.0.1/32 scram-sha-256";
  std::string text = read_file(hba);
  if (text.find(line) == std::string::npos) {
    std::ofstream(hba, std::ios::trunc) << line << "\n" << text;
    db.exec("SELECT pg_reload_conf()");
  }
}

// A login role of the server's with this password, in pgtrickle_relay_admin when `admin`.
void console_role(TestDb& db, const std::string& role, const std::string& password, bool admin) {
  db.exec("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + role + "') THEN CREATE ROLE " + role +
          " LOGIN; END IF; END $$");
  db.exec("ALTER ROLE " + role + " PASSWORD '" + password + "'");
  if (admin) db.exec("GRANT pgtrickle_relay_admin TO " + role);
}

// A TCP port nothing listens on now (the kernel's pick).
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string fresh_password() {
  static int n = 0;
  return "console-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + "-pw";
}

}  // namespace

TEST(Console, LoginsAreTheDatabasesAndEveryRefusalIsSaidInTheBrowser) {
  TestDb db;
  require_passwords_for_console_roles(db);
  const std::string admin_password = fresh_password(), plain_password = fresh_password();
  console_role(db, kAdmin, admin_password, true);
  console_role(db, kPlain, plain_password, false);
  db.exec("CREATE TABLE orders (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('orders')");
  db.exec("INSERT INTO orders SELECT generate_series(1, 3)");
  set_outbox_pipeline(db, "orders-to-file", {{"stream_table", "orders"}, {"sink_type", "file"}, {"path", work_dir() + "/orders.jsonl"}});
  db.exec("INSERT INTO pgtrickle.relay_dead_letters (pipeline, direction, error, payload) "
          "VALUES ('orders-to-file', 'forward', 'the sink refused it: 413 Payload Too Large', '{\"id\": 7}')");
  db.exec("SELECT pgtrickle.create_inbox('payments')");
  db.exec("INSERT INTO pgtrickle.inbox_payments (event_id, payload) VALUES ('p-1', '{}'), ('p-2', '{}')");
  db.exec("UPDATE pgtrickle.inbox_payments SET processed_at = now() WHERE event_id = 'p-2'");
  db.exec("CREATE TABLE refunds (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('refunds')");
  const std::string secret = "s3cret-" + fresh_password();
  set_outbox_pipeline(db, "refunds-hook", {{"stream_table", "refunds"}, {"sink_type", "webhook"},
                                           {"url", "http://relay:" + secret + "@127.0.0.1:9/hook"}});

  constexpr int kIdleSeconds = 8;  // longer than the page's refresh (5 s), which keeps a session in use
  auto args = relay_args(db);
  args.insert(args.end(), {"--console-addr", "127.0.0.1:0", "--console-session-timeout", std::to_string(kIdleSeconds)});
  RelayProcess relay(args);
  const int port = console_port(relay);
  ASSERT_GT(port, 0) << relay.err();
  ASSERT_TRUE(wait_until([&] { return db.value("SELECT state FROM pgtrickle.list_relay_configs() WHERE name = 'orders-to-file'") == "running"; }, 30s))
      << relay.err();

  const std::string shots = work_dir() + "/console-shots";
  std::string out;
  const std::string cmd = fmt::format(
      "mkdir -p {shots} && CONSOLE_ADMIN={admin} CONSOLE_ADMIN_PASSWORD={apw} CONSOLE_PLAIN={plain} CONSOLE_PLAIN_PASSWORD={ppw} "
      "CONSOLE_IDLE_WAIT_MS={wait} CONSOLE_SECRET_PIPELINE=refunds-hook CONSOLE_INBOX=payments node {script} http://127.0.0.1:{port} orders-to-file {shots} 2>{err}",
      fmt::arg("shots", shell_quote(shots)), fmt::arg("admin", kAdmin), fmt::arg("apw", admin_password), fmt::arg("plain", kPlain),
      fmt::arg("ppw", plain_password), fmt::arg("wait", (kIdleSeconds + 2) * 1000),
      fmt::arg("script", shell_quote(std::string(RELAY_SOURCE_DIR) + "/tests/node/console.mjs")), fmt::arg("port", port),
      fmt::arg("err", shell_quote(work_dir() + "/console-node.err")));
  ASSERT_EQ(run_command(cmd, out), 0) << out << read_file(work_dir() + "/console-node.err");
  auto seen = nlohmann::json::parse(out.substr(out.find('{')));
  ASSERT_FALSE(seen.contains("failure")) << seen.dump(2) << "\n" << relay.err();

  // A wrong password: refused, without saying whether the role exists.
  EXPECT_EQ(seen["wrong_password"], "Login refused: the role and password do not log in to the database");
  // The administrator sees the pipeline as the SQL listing has it, and disables it from the page.
  EXPECT_EQ(seen["admin_who"], "Logged in as " + kAdmin);
  EXPECT_EQ(seen["admin_pipelines"], nlohmann::json::array({"orders-to-file", "refunds-hook"}));
  EXPECT_EQ(seen["admin_sink"], "file");
  EXPECT_EQ(seen["password_in_page"], false);
  // Its page: the config as stored, its dead letter (then discarded), a backfill followed to its end,
  // and another pipeline's secret masked.
  EXPECT_EQ(seen["config_shown"]["source"]["stream_table"], "orders") << seen["config_shown"];
  ASSERT_EQ(seen["dead_letters"].size(), 1u) << seen["dead_letters"];
  EXPECT_EQ(seen["dead_letters"][0][2], "the sink refused it: 413 Payload Too Large");
  EXPECT_EQ(seen["dead_letters"][0][3], R"({"id": 7})");
  EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.relay_dead_letters WHERE pipeline = 'orders-to-file'"), "0");
  EXPECT_NE(seen["after_discard"].get<std::string>().find("discarded"), std::string::npos) << seen["after_discard"];
  EXPECT_NE(seen["backfill"].get<std::string>().find("done: public.orders 3 rows done"), std::string::npos) << seen["backfill"];
  EXPECT_EQ(db.value("SELECT state FROM pgtrickle.relay_backfills WHERE pipeline = 'orders-to-file'"), "done");
  EXPECT_EQ(seen["secret_config"].get<std::string>().find(secret), std::string::npos) << seen["secret_config"];
  EXPECT_NE(seen["secret_config"].get<std::string>().find("relay:***@127.0.0.1:9/hook"), std::string::npos) << seen["secret_config"];
  // The relays page: this relay, its version, both pipelines.
  ASSERT_EQ(seen["relays"].size(), 1u) << seen["relays"];
  EXPECT_EQ(seen["relays"][0][0], "default");
  EXPECT_EQ(seen["relays"][0][2], RELAY_VERSION);
  EXPECT_EQ(seen["relays"][0][4], "2");
  EXPECT_EQ(seen["relays"][0][6], "orders-to-file, refunds-hook");
  // A plot of the last hour's lag, drawn from the samples (a line starting with a move).
  EXPECT_EQ(seen["plot"].get<std::string>().rfind("M", 0), 0u) << seen["plot"];
  EXPECT_EQ(seen["after_disable"], "disabled");
  EXPECT_EQ(db.value("SELECT enabled FROM pgtrickle.list_relay_configs() WHERE name = 'orders-to-file'"), "f");
  // An action without the session's form token, and a form posted from another site: refused, and
  // the pipeline stays disabled.
  EXPECT_EQ(seen["forged"]["status"], 403);
  EXPECT_NE(seen["forged"]["error"].get<std::string>().find("form token"), std::string::npos) << seen["forged"];
  EXPECT_NE(seen["cross_site"]["error"].get<std::string>().find("Not logged in"), std::string::npos) << seen["cross_site"];
  EXPECT_EQ(seen["still_disabled"][0], nlohmann::json::parse(R"(["orders-to-file", "disabled"])"));
  // A role without pgtrickle_relay_admin logs in, sees no pipeline and is told why.
  EXPECT_NE(seen["plain_message"].get<std::string>().find("permission denied"), std::string::npos) << seen["plain_message"];
  EXPECT_NE(seen["plain_message"].get<std::string>().find("pgtrickle_relay_admin"), std::string::npos) << seen["plain_message"];
  EXPECT_EQ(seen["plain_rows"], 0);
  // The inbox with one message pending and one processed.
  ASSERT_GE(seen["inbox"].size(), 6u) << seen["inbox"];
  EXPECT_EQ(seen["inbox"][0], "payments");
  EXPECT_EQ(seen["inbox"][1], "pgtrickle.inbox_payments");
  EXPECT_EQ(seen["inbox"][3], "1");
  EXPECT_EQ(seen["inbox"][4], "1");
  EXPECT_EQ(seen["inbox"][5], "0");
  // A session unused past its timeout asks for a login again; a logged-out session reads nothing.
  EXPECT_EQ(seen["expired"], "Not logged in, or the session expired: log in again.");
  EXPECT_EQ(seen["after_logout"], 401);

  // The screenshots of docs/console.md are this test's.
  if (std::getenv("PGTRICKLE_TEST_DOCS_SCREENSHOTS"))
    for (const char* shot : {"console-login.png", "console-pipelines.png", "console-pipeline.png", "console-inboxes.png",
                             "console-relays.png"})
      std::filesystem::copy_file(shots + "/" + shot, std::string(RELAY_SOURCE_DIR) + "/docs/console/" + shot,
                                 std::filesystem::copy_options::overwrite_existing);

  // The password appears in no log line.
  EXPECT_EQ(relay.err().find(admin_password), std::string::npos);
  EXPECT_EQ(relay.err().find(plain_password), std::string::npos);
  EXPECT_NE(relay.err().find("Logged in to the console."), std::string::npos);
}

TEST(Console, OverHttpsTheCookieIsSecurePlainHttpGetsNoAnswerGuessingIsSlowedDownAndStandbysShow) {
  TestDb db;
  require_passwords_for_console_roles(db);
  const std::string password = fresh_password();
  console_role(db, kTls, password, true);
  const TestCerts& certs = test_certs();
  auto args = relay_args(db);
  args.insert(args.end(), {"--console-addr", "127.0.0.1:0", "--console-tls-cert", certs.server_cert, "--console-tls-key", certs.server_key});
  RelayProcess relay(args);
  const int port = console_port(relay);
  ASSERT_GT(port, 0) << relay.err();
  const std::string base = fmt::format("https://127.0.0.1:{}", port);
  auto login = [&](const std::string& role, const std::string& pw) {
    std::string out;
    run_command(fmt::format("curl -sS -i --cacert {} -H 'Content-Type: application/json' -d {} {}/api/login", shell_quote(certs.ca),
                            shell_quote(nlohmann::json{{"role", role}, {"password", pw}}.dump()), base),
                out);
    return out;
  };
  const std::string ok = login(kTls, password);
  EXPECT_NE(ok.find("HTTP/1.1 200"), std::string::npos) << ok;
  EXPECT_TRUE(std::regex_search(ok, std::regex("Set-Cookie: pgtrickle_console=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict; "
                                               "Max-Age=28800; Secure")))
      << ok;
  // The relays page lists every live relay, one that owns nothing too (a standby of its group).
  RelayProcess standby(relay_args(db));
  std::smatch cookie;
  ASSERT_TRUE(std::regex_search(ok, cookie, std::regex("pgtrickle_console=[0-9a-f]{64}")));
  nlohmann::json relays;
  const bool both = wait_until([&] {
    std::string out;
    run_command(fmt::format("curl -sS --cacert {} -H {} {}/api/relays", shell_quote(certs.ca), shell_quote("Cookie: " + cookie.str()), base), out);
    relays = nlohmann::json::parse(out, nullptr, false);
    return relays.is_object() && relays["relays"].size() == 2;
  }, 20s);
  ASSERT_TRUE(both) << relays.dump() << standby.err();
  for (const auto& r : relays["relays"]) {
    EXPECT_EQ(r["relay_group_id"], "default") << r;
    EXPECT_EQ(r["version"], RELAY_VERSION) << r;
    EXPECT_EQ(r["pipelines"], 0) << r;
    EXPECT_EQ(r["owns"], nlohmann::json::array()) << r;
  }
  EXPECT_NE(relays["relays"][0]["owner"], relays["relays"][1]["owner"]);

  // The same in a browser at a phone's width: the cookie as it keeps it, out of the page's scripts.
  const std::string shots = work_dir() + "/console-https-shots";
  std::string out;
  const int rc = run_command(fmt::format("mkdir -p {shots} && CONSOLE_ADMIN={role} CONSOLE_ADMIN_PASSWORD={pw} node {script} {base} {shots} 2>{err}",
                                         fmt::arg("shots", shell_quote(shots)), fmt::arg("role", kTls), fmt::arg("pw", password),
                                         fmt::arg("script", shell_quote(std::string(RELAY_SOURCE_DIR) + "/tests/node/console_https.mjs")),
                                         fmt::arg("base", base), fmt::arg("err", shell_quote(work_dir() + "/console-https.err"))),
                             out);
  ASSERT_EQ(rc, 0) << out << read_file(work_dir() + "/console-https.err");
  auto seen = nlohmann::json::parse(out.substr(out.find('{')));
  ASSERT_FALSE(seen.contains("failure")) << seen.dump(2);
  EXPECT_EQ(seen["who"], "Logged in as " + kTls);
  EXPECT_EQ(seen["cookie"]["secure"], true) << seen["cookie"];
  EXPECT_EQ(seen["cookie"]["httpOnly"], true) << seen["cookie"];
  EXPECT_EQ(seen["cookie"]["sameSite"], "Strict") << seen["cookie"];
  EXPECT_EQ(seen["script_sees_cookie"], false);
  ASSERT_EQ(seen["relays"].size(), 2u) << seen["relays"];
  EXPECT_EQ(seen["relays"][0][6], "nothing: a standby");
  EXPECT_LE(seen["page_width"].get<int>(), 390) << "nothing wider than the phone's screen";
  if (std::getenv("PGTRICKLE_TEST_DOCS_SCREENSHOTS"))
    std::filesystem::copy_file(shots + "/console-phone.png", std::string(RELAY_SOURCE_DIR) + "/docs/console/console-phone.png",
                               std::filesystem::copy_options::overwrite_existing);
  // Plain HTTP to the HTTPS port gets no page.
  std::string plain;
  run_command(fmt::format("curl -sS -m 5 http://127.0.0.1:{}/ 2>&1", port), plain);
  EXPECT_EQ(plain.find("<html"), std::string::npos) << plain;
  // Five wrong passwords from one address, then the sixth is not even tried.
  for (int i = 0; i < 5; ++i) EXPECT_NE(login(kTls, "wrong-" + std::to_string(i)).find("HTTP/1.1 401"), std::string::npos) << i;
  const std::string sixth = login(kTls, password);
  EXPECT_NE(sixth.find("HTTP/1.1 429"), std::string::npos) << sixth;
  EXPECT_NE(sixth.find("Retry-After: "), std::string::npos) << sixth;
  EXPECT_NE(sixth.find("Too many failed logins; try again in"), std::string::npos) << sixth;
}

TEST(Console, TheLagRisesWhileTheSinkIsDownFallsWhenItReturnsAndARefusedMessageIsSentAgain) {
  TestDb db;
  require_passwords_for_console_roles(db);
  const std::string password = fresh_password();
  console_role(db, kOnCall, password, true);
  db.exec("CREATE TABLE shipments (id int PRIMARY KEY, note text)");
  db.exec("SELECT pgtrickle.enable_outbox('shipments')");
  // The sink: a webhook receiver the browser's script starts once it has seen the lag rise.
  const int sink_port = unused_port();
  set_outbox_pipeline(db, "shipments-hook", {{"stream_table", "shipments"}, {"sink_type", "webhook"},
                                             {"url", fmt::format("http://127.0.0.1:{}/ship", sink_port)}, {"retry_max_ms", 1000}});
  auto args = relay_args(db);
  args.insert(args.end(), {"--console-addr", "127.0.0.1:0"});
  RelayProcess relay(args);
  const int port = console_port(relay);
  ASSERT_GT(port, 0) << relay.err();

  // Rows keep coming while the sink is down; once it is up, one it refuses and one more.
  const std::string sink_up = work_dir() + "/sink-up-" + db.name();
  std::atomic<bool> done = false;
  std::atomic<int> written = 0;
  std::thread writer([&] {
    auto c = relay::pg::Connection::open(db.url(), "console test writer");
    if (!c) return;
    while (!done && !std::filesystem::exists(sink_up)) {
      if (c->exec(fmt::format("INSERT INTO shipments VALUES ({}, 'ok')", written + 1))) ++written;
      std::this_thread::sleep_for(500ms);
    }
    if (done) return;
    if (c->exec(fmt::format("INSERT INTO shipments VALUES ({}, 'poison')", written + 1))) ++written;
    if (c->exec(fmt::format("INSERT INTO shipments VALUES ({}, 'ok')", written + 1))) ++written;
  });

  const std::string shots = work_dir() + "/console-sink-shots";
  std::string out;
  const std::string cmd = fmt::format(
      "mkdir -p {shots} && CONSOLE_ADMIN={role} CONSOLE_ADMIN_PASSWORD={pw} node {script} http://127.0.0.1:{port} shipments-hook "
      "{sink_port} {sink_up} {shots} 2>{err}",
      fmt::arg("shots", shell_quote(shots)), fmt::arg("role", kOnCall), fmt::arg("pw", password),
      fmt::arg("script", shell_quote(std::string(RELAY_SOURCE_DIR) + "/tests/node/console_sink.mjs")), fmt::arg("port", port),
      fmt::arg("sink_port", sink_port), fmt::arg("sink_up", shell_quote(sink_up)), fmt::arg("err", shell_quote(work_dir() + "/console-sink.err")));
  const int rc = run_command(cmd, out);
  done = true;
  writer.join();
  ASSERT_EQ(rc, 0) << out << read_file(work_dir() + "/console-sink.err");
  auto seen = nlohmann::json::parse(out.substr(out.find('{')));
  ASSERT_FALSE(seen.contains("failure")) << seen.dump(2) << "\n" << relay.err();

  // Down: the lag shown rose, and the pipeline said it was retrying.
  EXPECT_GE(seen["lag_down_first"].get<int>(), 3);
  EXPECT_GT(seen["lag_down_later"].get<int>(), seen["lag_down_first"].get<int>());
  EXPECT_EQ(seen["state_down"], "retrying");
  // Back: it fell to nothing.
  EXPECT_EQ(seen["lag_back"], 0);
  // The refused message was a dead letter (the sink's answer its reason), sent again from the page,
  // accepted, and gone from the list and the table.
  ASSERT_GE(seen["dead_letter"].size(), 5u) << seen["dead_letter"];
  EXPECT_NE(seen["dead_letter"][2].get<std::string>().find("422"), std::string::npos) << seen["dead_letter"];
  EXPECT_NE(seen["dead_letter"][3].get<std::string>().find("poison"), std::string::npos) << seen["dead_letter"];
  EXPECT_EQ(seen["dead_letter"][4], "1") << "attempts";
  EXPECT_NE(seen["replay_message"].get<std::string>().find("being sent again"), std::string::npos) << seen["replay_message"];
  EXPECT_EQ(seen["dead_letters_after"], 0);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0);
  // Every row reached the sink and was accepted, the refused one last, once sent again.
  std::set<int> accepted;
  std::string last_accepted;
  for (const auto& r : seen["received"]) {
    if (r["status"] != 200) continue;
    auto body = nlohmann::json::parse(r["body"].get<std::string>());
    accepted.insert(body["payload"]["id"].get<int>());
    last_accepted = body["payload"]["note"];
  }
  EXPECT_EQ(static_cast<int>(accepted.size()), written.load());
  EXPECT_EQ(*accepted.rbegin(), written.load());
  EXPECT_EQ(last_accepted, "poison");
  if (std::getenv("PGTRICKLE_TEST_DOCS_SCREENSHOTS"))
    std::filesystem::copy_file(shots + "/console-lag.png", std::string(RELAY_SOURCE_DIR) + "/docs/console/console-lag.png",
                               std::filesystem::copy_options::overwrite_existing);
}
