// What a pipeline admin in SQL can make the relay reach: only the destinations the operator allows
// (link-local and cloud metadata denied by default), checked on the addresses really connected to;
// URL templates encode row values; a server's answer reaches the status only as a short, sanitized
// excerpt. Each pipeline is defined by a role that is only a member of pgtrickle_relay_admin.
#include "../fixture.h"
#include "receiver.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// set_relay_outbox as a pipeline admin (a member of pgtrickle_relay_admin only).
void define_as_pipeline_admin(TestDb& db, const std::string& name, const json& config) {
  std::string role = "padmin_" + db.name();
  db.exec("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + role + "') THEN CREATE ROLE " + role +
          "; END IF; END$$");
  db.exec("GRANT pgtrickle_relay_admin TO " + role);
  db.exec("SET ROLE " + role);
  set_outbox_pipeline(db, name, config);
  db.exec("RESET ROLE");
}

std::string status_error(TestDb& db, const std::string& pipeline) {
  return db.value("SELECT coalesce(max(last_error), '') FROM pgtrickle.relay_pipeline_status WHERE pipeline = '" + pipeline + "'");
}

std::vector<std::string> with(std::vector<std::string> args, std::initializer_list<std::string> more) {
  args.insert(args.end(), more);
  return args;
}

TEST(SqlDestinations, AWebhookToTheCloudMetadataAddressIsRefusedNamingTheSetting) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  define_as_pipeline_admin(db, "meta", {{"outbox", "order_events"}, {"sink_type", "webhook"},
                                        {"url", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"}});
  db.exec("SELECT pgtrickle.outbox_publish('order_events', '{\"n\": 1}')");
  RelayProcess relay(relay_args(db));
  std::string error = wait_for_pipeline_error(relay, "meta");
  EXPECT_NE(error.find("169.254.169.254"), std::string::npos) << error;
  EXPECT_NE(error.find("--sql-deny-destinations"), std::string::npos) << error;
}

TEST(SqlDestinations, AnInternalServiceByNameOrOutsideTheAllowListIsRefused) {
  Receiver internal;
  TestDb db;
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  std::string url = "http://localhost:" + std::to_string(internal.port()) + "/admin";
  define_as_pipeline_admin(db, "ssrf", {{"outbox", "order_events"}, {"sink_type", "webhook"}, {"url", url}});
  db.exec("SELECT pgtrickle.outbox_publish('order_events', '{\"n\": 1}')");
  // The operator's loopback is off limits to SQL: "localhost" resolves there.
  RelayProcess relay(with(relay_args(db), {"--sql-deny-destinations", "127.0.0.0/8,::1"}));
  std::string error = wait_for_pipeline_error(relay, "ssrf");
  EXPECT_NE(error.find("localhost"), std::string::npos) << error;
  EXPECT_NE(error.find("--sql-deny-destinations"), std::string::npos) << error;
  EXPECT_TRUE(internal.all().empty()) << "the internal service was reached";

  // An allow list admits only what it names.
  RelayProcess allow_only(with(relay_args(db, "g2"), {"--sql-allow-destinations", "hooks.example.com:443"}));
  error = wait_for_pipeline_error(allow_only, "ssrf");
  EXPECT_NE(error.find("--sql-allow-destinations"), std::string::npos) << error;
  EXPECT_TRUE(internal.all().empty());
}

TEST(SqlDestinations, AHostFromARowIsCheckedAtConnectionTime) {
  Receiver internal;
  TestDb db;
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  define_as_pipeline_admin(db, "rebind", {{"outbox", "order_events"}, {"sink_type", "webhook"},
                                          {"url", "http://{{ host }}:" + std::to_string(internal.port()) + "/x"}});
  db.exec("SELECT pgtrickle.outbox_publish('order_events', '{\"host\": \"localhost\"}')");
  RelayProcess relay(with(relay_args(db), {"--sql-deny-destinations", "127.0.0.0/8,::1"}));
  std::string error = wait_for_pipeline_error(relay, "rebind");
  EXPECT_NE(error.find("--sql-deny-destinations"), std::string::npos) << error;
  EXPECT_TRUE(internal.all().empty()) << "a name known only per message reached a denied address";
}

TEST(SqlDestinations, AnAnswersBodyReachesTheStatusOnlyAsAShortSanitizedExcerpt) {
  Receiver chatty;
  chatty.fail_next(1000, 503);
  chatty.set_error_body("internal\r\nSet-Cookie: x\x1b[2J db=postgres://app:hunter2@10.0.0.5/prod?token=tok3n " +
                        std::string(20000, 'A') + "END-OF-BODY");
  TestDb db;
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  define_as_pipeline_admin(db, "chatty", {{"outbox", "order_events"}, {"sink_type", "webhook"},
                                          {"url", "http://127.0.0.1:" + std::to_string(chatty.port()) + "/in"},
                                          {"retry_max", 0}});
  db.exec("SELECT pgtrickle.outbox_publish('order_events', '{\"n\": 1}')");
  RelayProcess relay(relay_args(db));
  std::string error = wait_for_pipeline_error(relay, "chatty");
  ASSERT_TRUE(wait_until([&] { return !status_error(db, "chatty").empty(); }, 15s));
  for (const std::string& shown : {error, status_error(db, "chatty"), relay.err()}) {
    EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown.substr(0, 400);
    EXPECT_EQ(shown.find("tok3n"), std::string::npos) << shown.substr(0, 400);
    EXPECT_EQ(shown.find("END-OF-BODY"), std::string::npos);
    EXPECT_EQ(shown.find('\x1b'), std::string::npos);
    EXPECT_EQ(shown.find("\r\nSet-Cookie"), std::string::npos);
  }
  EXPECT_LT(error.size(), 400u) << error;
}

TEST(SqlDestinations, RowValuesInAUrlTemplateStayInTheirSegment) {
  Receiver receiver;
  TestDb db;
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  define_as_pipeline_admin(db, "enc", {{"outbox", "order_events"}, {"sink_type", "webhook"},
                                       {"url", "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hooks/{{ v }}?k={{ v }}"}});
  db.exec("SELECT pgtrickle.outbox_publish('order_events', '{\"v\": \"../../admin?x=1&y=#f\"}')");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return !receiver.all().empty(); }, 15s)) << relay.err();
  auto r = receiver.all()[0];
  EXPECT_EQ(r.path, "/hooks/../../admin?x=1&y=#f") << "the value is one path segment, decoded by the server";
  EXPECT_TRUE(receiver.accepted("/admin").empty());
}

}  // namespace
