// Small pure parts: error classification, backoff, lock keys, redaction, encoders, health, metrics.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/backoff.h"
#include "core/health.h"
#include "core/relay_context.h"
#include "http/admin_server.h"
#include "metrics/metrics.h"
#include "pg/connection.h"
#include "backends/stream/stream_sink.h"
#include "util/strings.h"
#include "config/pipeline_config.h"

using namespace relay;

TEST(SqlState, EveryClassMapsToARetryDecision) {
  struct Row {
    const char* state;
    bool conn_ok;
    ErrorKind kind;
  } rows[] = {
      {"08006", true, ErrorKind::retriable},  // connection failure
      {"", false, ErrorKind::retriable},      // connection lost, no SQLSTATE
      {"40001", true, ErrorKind::retriable},  // serialization failure
      {"40P01", true, ErrorKind::retriable},  // deadlock
      {"53100", true, ErrorKind::retriable},  // disk full
      {"53300", true, ErrorKind::retriable},  // too many connections
      {"57P01", true, ErrorKind::retriable},  // admin shutdown
      {"57014", true, ErrorKind::retriable},  // query cancelled
      {"58030", true, ErrorKind::retriable},  // I/O error
      {"55P03", true, ErrorKind::retriable},  // lock not available
      {"22P02", true, ErrorKind::permanent},  // invalid text representation: this input
      {"23502", true, ErrorKind::permanent},  // not-null violation
      {"54000", true, ErrorKind::permanent},  // program limit exceeded: a value too large for an index entry
      {"42P01", true, ErrorKind::fatal},      // undefined table: the setup is wrong
      {"42501", true, ErrorKind::fatal},      // insufficient privilege
      {"28P01", true, ErrorKind::fatal},      // bad password
      {"3D000", true, ErrorKind::fatal},      // no such database
      {"P0001", true, ErrorKind::fatal},      // raised by our SQL
      {"XX000", true, ErrorKind::retriable},  // internal error: retry rather than drop
  };
  for (const auto& r : rows) EXPECT_EQ(pg::classify_sqlstate(r.state, r.conn_ok), r.kind) << r.state;
}

TEST(Backoff, DoublesUpToTheCapWithJitter) {
  Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 42);
  auto d1 = b.next().count(), d2 = b.next().count(), d3 = b.next().count();
  EXPECT_GE(d1, 50);
  EXPECT_LE(d1, 100);
  EXPECT_GE(d2, 100);
  EXPECT_LE(d2, 200);
  EXPECT_GE(d3, 200);
  EXPECT_LE(d3, 400);
  for (int i = 0; i < 50; ++i) EXPECT_LE(b.next().count(), 1000);
  Backoff other(std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 43);
  bool differs = false;
  Backoff again(std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 42);
  for (int i = 0; i < 10; ++i) differs |= other.next() != again.next();
  EXPECT_TRUE(differs) << "relays with different seeds do not retry in lockstep";
}

TEST(Ownership, LockKeysAreStableAndDistinct) {
  EXPECT_EQ(ownership_lock_key("default", "orders"), ownership_lock_key("default", "orders"));
  EXPECT_NE(ownership_lock_key("default", "orders"), ownership_lock_key("other", "orders"));
  EXPECT_NE(ownership_lock_key("ab", "c"), ownership_lock_key("a", "bc"));
  // Fixed value: relays of different versions must agree on the key.
  EXPECT_EQ(ownership_lock_key("default", "orders"), ownership_lock_key(std::string("default"), std::string("orders")));
}

TEST(Redact, PasswordsInUrlsAndKeyValueStrings) {
  EXPECT_EQ(util::redact_url("postgres://relay:hunter2@db:5432/app"), "postgres://relay:***@db:5432/app");
  EXPECT_EQ(util::redact_url("host=db password=hunter2 user=relay"), "host=db password=*** user=relay");
  EXPECT_EQ(util::redact_url("postgres://db/app?password=hunter2&sslmode=require"), "postgres://db/app?password=***&sslmode=require");
  EXPECT_EQ(util::redact_url("nats://localhost:4222"), "nats://localhost:4222");
  // Every scheme's user info, every URL of a message, and query parameters that name a secret.
  EXPECT_EQ(util::redact_url("POST http://user:PASS@h/x failed; retry amqp://g:p%40ss@r:5672/v"),
            "POST http://user:***@h/x failed; retry amqp://g:***@r:5672/v");
  EXPECT_EQ(util::redact_url("https://h/in?token=abc&API_KEY=k&sig=s&X-Amz-Signature=z&page=2#top"),
            "https://h/in?token=***&API_KEY=***&sig=***&X-Amz-Signature=***&page=2#top");
  EXPECT_EQ(util::redact_url("nats://a:4222,nats://u:pw@b:4222"), "nats://a:4222,nats://u:***@b:4222");
}

// A value resolved from a reference reads as the reference wherever an error quotes it, whole or
// inside a longer value; numbers and booleans are no secrets and stay.
TEST(Redact, AValueResolvedFromAReferenceReadsAsTheReference) {
  ::setenv("REDACT_TEST_URL", "not a url: Opaque-Secret-7f3a", 1);
  ::setenv("REDACT_TEST_PASSWORD", "Inner-Secret-91c2", 1);
  ::setenv("REDACT_TEST_PORT", "4222", 1);
  auto whole = resolve_secret_string("${ENV:REDACT_TEST_URL}");
  auto inner = resolve_secret_string("plain:${ENV:REDACT_TEST_PASSWORD}@host:${ENV:REDACT_TEST_PORT}");
  ASSERT_TRUE(whole && inner);
  EXPECT_EQ(util::redact_url("listen \"" + *whole + "\": no port"), "listen \"${ENV:REDACT_TEST_URL}\": no port");
  EXPECT_EQ(util::safe_excerpt("cannot connect to " + *inner), "cannot connect to plain:${ENV:REDACT_TEST_PASSWORD}@host:4222");
  EXPECT_EQ(util::redact_url("batch of 4222 rows"), "batch of 4222 rows");
}

namespace {

// A secret of `n` letters and digits, as a token or a key file's base64 is.
std::string random_secret(size_t n, unsigned seed) {
  static constexpr std::string_view kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1103515245u + 12345u;
    out += kChars[(seed >> 16) % kChars.size()];
  }
  return out;
}

std::string file_reference(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << content << "\n";
  return "${FILE:" + path + "}";
}

// The first 8 bytes of `secret` (or of any later start) that `shown` still holds; "" if none.
std::string part_shown(const std::string& shown, const std::string& secret) {
  for (size_t at = 0; at + 8 <= secret.size(); ++at)
    if (shown.find(secret.substr(at, 8)) != std::string::npos) return secret.substr(at, 8);
  return "";
}

}  // namespace

// As /health, the status table and the log show errors: a value from ${FILE:...} is hidden whole
// with its line breaks (which the excerpt turns into spaces only after), line by line (escaped,
// as JSON writes it), and cut short at any length from 8 bytes on (a library's error buffer).
TEST(Redact, AFileSecretIsHiddenWholeLineByLineAndCutShort) {
  const std::string key_line = random_secret(64, 1), last_line = random_secret(40, 2);
  const std::string pem = "-----BEGIN PRIVATE KEY-----\n" + key_line + "\n" + last_line + "\n-----END PRIVATE KEY-----";
  const std::string token = random_secret(600, 3);
  const std::string pem_ref = file_reference("redact-pem", pem), token_ref = file_reference("redact-token", token);
  ASSERT_TRUE(resolve_secret_string(pem_ref) && resolve_secret_string(token_ref));

  EXPECT_EQ(util::safe_excerpt("cannot read \"" + pem + "\" as a key", 2000), "cannot read \"" + pem_ref + "\" as a key");
  std::string escaped = util::safe_excerpt("{\"value\": \"" + key_line + "\\n" + last_line + "\\n\"}", 2000);
  EXPECT_EQ(part_shown(escaped, key_line + last_line), "") << escaped;
  EXPECT_NE(escaped.find(pem_ref), std::string::npos) << escaped;
  for (size_t cut : {8, 9, 100, 450, 599}) {
    // librdkafka's text, cut at its 512-byte buffer, then what the relay adds.
    std::string error = "kafka sink: key \"rdkafka.security.protocol\": Invalid value \"" + token.substr(0, cut);
    for (const std::string& shown : {util::safe_excerpt(error, 2000), util::safe_excerpt(error + "; and more", 2000), util::redact_url(error)}) {
      EXPECT_EQ(part_shown(shown, token), "") << cut << ": " << shown;
      EXPECT_NE(shown.find(token_ref), std::string::npos) << cut << ": " << shown;
    }
    std::string line_cut = util::safe_excerpt("bad key line: " + key_line.substr(0, cut < key_line.size() ? cut : 20), 2000);
    EXPECT_EQ(part_shown(line_cut, key_line), "") << line_cut;
  }
  // Shorter starts, and another value beginning as this one does, are not this secret.
  EXPECT_EQ(util::redact_url("value \"" + token.substr(0, 7) + "\""), "value \"" + token.substr(0, 7) + "\"");
  EXPECT_EQ(util::redact_url("token " + token.substr(0, 20) + "xyz"), "token " + token.substr(0, 20) + "xyz");
  EXPECT_EQ(util::redact_url("-----BEGIN CERTIFICATE-----"), "-----BEGIN CERTIFICATE-----");
  EXPECT_TRUE(util::holds_resolved_value(token.substr(0, 450)));
  EXPECT_FALSE(util::holds_resolved_value("SASL_SSL"));
}

TEST(StreamSink, EncodesLinesInEachFormat) {
  Message m;
  m.dedup_key = "outbox_t:1:0";
  m.source = "t";
  m.op = Op::insert;
  m.key = "a,b";
  m.data = R"({"id":1,"s":"x\"y"})";
  m.body = R"({"dedup_key":"outbox_t:1:0","payload":{"id":1}})";
  m.committed_at = 1777284903.412;
  std::string out;
  stream::encode_line(m, "jsonl", out);
  EXPECT_EQ(out, m.body + "\n");
  out.clear();
  stream::encode_line(m, "csv", out);
  EXPECT_EQ(out, "outbox_t:1:0,t,insert,\"a,b\",2026-04-27T10:15:03.412Z,\"{\"\"id\"\":1,\"\"s\"\":\"\"x\\\"\"y\"\"}\"\n");
  out.clear();
  stream::encode_line(m, "json", out);
  EXPECT_EQ(out, "{\n  \"dedup_key\": \"outbox_t:1:0\",\n  \"payload\": {\n    \"id\": 1\n  }\n}\n");
}

TEST(Health, DegradedWhenTheDatabaseIsLostOrAPipelineFails) {
  HealthBoard h;
  int status = 0;
  auto doc = nlohmann::json::parse(AdminServer::health_json(h, status));
  EXPECT_EQ(status, 503);
  EXPECT_EQ(doc["database"], "unreachable");
  h.database_connected = true;
  h.update({.name = "a", .direction = "forward", .state = "running", .owned = true});
  h.update({.name = "b", .direction = "forward", .state = "standby"});
  doc = nlohmann::json::parse(AdminServer::health_json(h, status));
  EXPECT_EQ(status, 200);
  EXPECT_EQ(doc["status"], "healthy");
  EXPECT_EQ(doc["pipelines_owned"], 1);
  h.update({.name = "b", .direction = "forward", .state = "failed", .last_error = "boom"});
  doc = nlohmann::json::parse(AdminServer::health_json(h, status));
  EXPECT_EQ(status, 503);
  EXPECT_EQ(doc["pipelines"][1]["last_error"], "boom");
}

TEST(Metrics, RendersPrometheusTextWithCumulativeBuckets) {
  metrics::Registry r;
  auto p = r.pipeline("orders \"x\"");
  p->delivered.inc(3);
  p->delivery_seconds.observe(0.0015);
  p->delivery_seconds.observe(0.02);
  p->owned.set(1);
  std::string text = r.render();
  EXPECT_NE(text.find("pgtrickle_relay_messages_delivered_total{pipeline=\"orders \\\"x\\\"\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pgtrickle_relay_delivery_duration_seconds_bucket{pipeline=\"orders \\\"x\\\"\",le=\"0.002\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("pgtrickle_relay_delivery_duration_seconds_bucket{pipeline=\"orders \\\"x\\\"\",le=\"0.025\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("pgtrickle_relay_delivery_duration_seconds_count{pipeline=\"orders \\\"x\\\"\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("pgtrickle_relay_pipelines_owned 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE pgtrickle_relay_consumer_lag gauge"), std::string::npos);
}

TEST(Redact, AnExcerptIsShortOneLineAndWithoutSecrets) {
  std::string body = "line1\r\nX-Injected: 1\x1b[31m see https://u:pw@h/?token=abc " + std::string(500, 'z');
  std::string e = util::safe_excerpt(body);
  EXPECT_LE(e.size(), 200u + std::string("…").size());
  EXPECT_EQ(e.find_first_of("\r\n\x1b"), std::string::npos);
  EXPECT_EQ(e.find("pw@"), std::string::npos);
  EXPECT_EQ(e.find("abc"), std::string::npos);
  EXPECT_EQ(e.substr(e.size() - std::string("…").size()), "…");
  EXPECT_EQ(util::safe_excerpt("short"), "short");
}
