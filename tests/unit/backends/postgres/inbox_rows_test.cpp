// How messages become inbox rows: identity, mapping, payloads that are not JSON, size limit.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pg/copy_text.h"
#include "backends/postgres/inbox_rows.h"
#include "config/specs.h"
#include "util/digest.h"

using namespace relay;
using namespace relay::postgres;
using json = nlohmann::json;

namespace {

InboxRowOptions inbox_options(const json& sink, bool forward = false) {
  auto o = InboxRowOptions::from_config(ConfigSection(kPgInboxSinkSpec, sink), forward);
  EXPECT_TRUE(o) << (o ? "" : o.error().message);
  return o ? *o : InboxRowOptions{};
}

// The COPY text rows as JSON objects, one per row, by column name (payload and headers parsed).
json rows(const std::vector<Message>& batch, const InboxRowOptions& o, std::vector<Outcome>* outcomes_out = nullptr) {
  std::vector<Outcome> outcomes(batch.size(), Outcome{Outcome::delivered, {}});
  std::string out;
  size_t n = encode_inbox_rows(batch, o, out, outcomes);
  if (outcomes_out) *outcomes_out = outcomes;
  const std::vector<std::string> columns = {"event_id", "event_type", "source", "aggregate_id", "payload", "error", "headers", "trace_id"};
  json j = json::array();
  for (size_t start = 0; start < out.size();) {
    size_t end = out.find('\n', start);
    EXPECT_NE(end, std::string::npos) << "every row ends with a newline";
    if (end == std::string::npos) break;
    const char* p = out.data() + start;
    json row = json::object();
    for (const auto& c : columns) {
      std::string v;
      bool null = false;
      pg::read_copy_field(p, out.data() + end, v, null);
      row[c] = null ? json(nullptr) : c == "payload" || c == "headers" ? json::parse(v) : json(v);
    }
    EXPECT_EQ(p, out.data() + end) << "eight fields per row";
    j.push_back(row);
    start = end + 1;
  }
  EXPECT_EQ(j.size(), n);
  return j;
}

Message nats_message() {
  Message m;
  m.dedup_key = "commands:42";
  m.subject = "commands.orders.create";
  m.source = "nats:commands";
  m.op = Op::event;
  m.data = R"({"type":"order.created","order":{"id":17,"items":[{"sku":"A-1"}]},"amount":12.50})";
  m.headers = {{"Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, {"X-Tenant", "acme"}};
  return m;
}

}  // namespace

TEST(InboxRows, ReverseDefaultsTakeIdentitySubjectAndTraceparent) {
  auto j = rows({nats_message()}, inbox_options(json::object()));
  EXPECT_EQ(j[0]["event_id"], "commands:42");
  EXPECT_EQ(j[0]["event_type"], "commands.orders.create");
  EXPECT_EQ(j[0]["source"], "nats:commands");
  EXPECT_TRUE(j[0]["aggregate_id"].is_null());
  EXPECT_EQ(j[0]["payload"]["amount"].dump(), "12.5");
  EXPECT_EQ(j[0]["headers"], json({{"Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, {"X-Tenant", "acme"}}));
  EXPECT_EQ(j[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(j[0]["error"].is_null());
}

TEST(InboxRows, PayloadNumbersKeepTheirDigits) {
  std::string out;
  std::vector<Outcome> outcomes(1);
  encode_inbox_rows(std::vector<Message>{nats_message()}, inbox_options(json::object()), out, outcomes);
  EXPECT_NE(out.find("\"amount\":12.50"), std::string::npos) << out;
}

TEST(InboxRows, ColumnsMapFromJsonPathsHeadersAndFixedText) {
  auto o = inbox_options({{"event_id", "$.order.id"}, {"event_type", "$.type"}, {"aggregate_id", "$.order.items[0].sku"},
                    {"trace_id", "header:x-tenant"}});
  auto j = rows({nats_message()}, o);
  EXPECT_EQ(j[0]["event_id"], "17");
  EXPECT_EQ(j[0]["event_type"], "order.created");
  EXPECT_EQ(j[0]["aggregate_id"], "A-1");
  EXPECT_EQ(j[0]["trace_id"], "acme");
  EXPECT_EQ(rows({nats_message()}, inbox_options({{"event_type", "payments"}}))[0]["event_type"], "payments");
  EXPECT_EQ(rows({nats_message()}, inbox_options({{"event_type", "header:X-TENANT"}}))[0]["event_type"], "acme");
}

TEST(InboxRows, AMissingMappedFieldFallsBackToTheDefault) {
  auto o = inbox_options({{"event_id", "$.nope"}, {"event_type", "$.order.missing"}, {"aggregate_id", "header:absent"}});
  auto j = rows({nats_message()}, o);
  EXPECT_EQ(j[0]["event_id"], "commands:42");
  EXPECT_EQ(j[0]["event_type"], "commands.orders.create");
  EXPECT_TRUE(j[0]["aggregate_id"].is_null());
}

TEST(InboxRows, MappingErrorsSayWhatToWrite) {
  auto bad = [](const json& sink, bool forward = false) {
    auto o = InboxRowOptions::from_config(ConfigSection(kPgInboxSinkSpec, sink), forward);
    return o ? std::string() : o.error().message;
  };
  EXPECT_NE(bad({{"event_id", "id"}}).find("event_id: \"id\" is not a field reference; write a JSON path"), std::string::npos);
  EXPECT_NE(bad({{"event_id", "$.a..b"}}).find("empty step"), std::string::npos);
  EXPECT_NE(bad({{"aggregate_id", "$.a[x]"}}).find("array index"), std::string::npos);
  EXPECT_NE(bad({{"event_id", "header:"}}).find("needs a header name"), std::string::npos);
  EXPECT_NE(bad({{"event_type", "{stream_table}.{op}"}}).find("templates apply to outbox pipelines"), std::string::npos);
  EXPECT_EQ(bad({{"event_type", "{stream_table}.{op}"}}, true), "");
}

TEST(InboxRows, ForwardRowsUseTheRenderedTemplateOrStreamTableAndOp) {
  Message m;
  m.dedup_key = "outbox_pay:3:0";
  m.routes[0] = "payments.created";
  m.source = "payments";
  m.key = "10";
  m.data = R"({"amount":5})";
  auto j = rows({m}, inbox_options({{"event_type", "{stream_table}.created"}}, true));
  EXPECT_EQ(j[0]["event_type"], "payments.created");
  EXPECT_EQ(j[0]["aggregate_id"], "10");
  EXPECT_EQ(j[0]["headers"]["op"], "insert");
  EXPECT_EQ(rows({m}, inbox_options(json::object(), true))[0]["event_type"], "payments.insert");
}

TEST(InboxRows, APayloadThatIsNotJsonIsStoredAsAStringWithTheErrorNoted) {
  Message m = nats_message();
  m.data = "plain text, not JSON";
  auto j = rows({m}, inbox_options(json::object()));
  EXPECT_EQ(j[0]["payload"], "plain text, not JSON");
  EXPECT_NE(j[0]["error"].get<std::string>().find("not valid JSON"), std::string::npos);
  // Bytes that are not text at all are kept base64-encoded.
  m.data = std::string("\xff\x00\x01", 3);
  j = rows({m}, inbox_options(json::object()));
  EXPECT_EQ(j[0]["payload"], "base64:/wAB");
  EXPECT_NE(j[0]["error"].get<std::string>().find("not UTF-8"), std::string::npos);
  // JSON that jsonb cannot hold.
  m.data = R"({"a":"x\u0000y"})";
  EXPECT_NE(rows({m}, inbox_options(json::object()))[0]["error"].get<std::string>().find("\\u0000"), std::string::npos);
  m.data = R"({"a":"x\\u0000y"})";  // an escaped backslash, then plain text
  EXPECT_TRUE(rows({m}, inbox_options(json::object()))[0]["error"].is_null());  m.data = R"({"amount": 1e200000})";  // valid JSON, beyond numeric: kept as a string, as it came
  j = rows({m}, inbox_options(json::object()));
  EXPECT_EQ(j[0]["payload"], R"({"amount": 1e200000})");
  EXPECT_NE(j[0]["error"].get<std::string>().find("numeric range"), std::string::npos);
}

TEST(InboxRows, DeadLetterPolicyAndSizeLimitRejectOnlyTheMessagesAtFault) {
  Message good = nats_message(), text = nats_message(), big = nats_message();
  text.data = "nope";
  big.data = "[" + std::string(200, '1') + "]";
  std::vector<Outcome> outcomes;
  auto j = rows({good, text, big, good}, inbox_options({{"invalid_payload", "dead_letter"}, {"max_payload_bytes", 150}}), &outcomes);
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(outcomes[0].kind, Outcome::delivered);
  EXPECT_EQ(outcomes[1].kind, Outcome::rejected);
  EXPECT_NE(outcomes[1].error.find("dead_letter"), std::string::npos);
  EXPECT_EQ(outcomes[2].kind, Outcome::rejected);
  EXPECT_NE(outcomes[2].error.find("max_payload_bytes (150)"), std::string::npos);
  EXPECT_EQ(outcomes[3].kind, Outcome::delivered);
}

TEST(InboxRows, IdentitiesAndHeadersThatAreNotTextStayStorable) {
  Message m = nats_message();
  m.dedup_key = std::string("id\0x", 4);
  m.headers = {{"bin", std::string("\xc3\x28", 2)}};
  auto j = rows({m}, inbox_options(json::object()));
  EXPECT_EQ(j[0]["event_id"], "base64:aWQAeA==");
  EXPECT_EQ(j[0]["headers"]["bin"], "base64:wyg=");
}

// A sender's identity too long for the primary key's index is stored as its digest, the same for
// each redelivery; the identity as sent stays in the headers, after any header of that name the
// sender set itself.
TEST(InboxRows, AnIdentityTooLongForTheIndexIsStoredAsItsDigestAndKeptInTheHeaders) {
  Message m = nats_message();
  m.dedup_key = std::string(10000, 'k');
  m.headers.emplace_back(kLongEventIdHeader, "forged");
  Message exact = nats_message();
  exact.dedup_key = std::string(kMaxEventIdBytes, 'e');
  auto j = rows({m, m, exact}, inbox_options(json::object()));
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["event_id"], "sha256:" + util::sha256_hex(m.dedup_key));
  EXPECT_EQ(j[1]["event_id"], j[0]["event_id"]) << "a redelivery gets the same identity";
  EXPECT_EQ(j[0]["headers"][kLongEventIdHeader], m.dedup_key);
  EXPECT_EQ(j[0]["headers"]["X-Tenant"], "acme");
  EXPECT_EQ(j[2]["event_id"], exact.dedup_key) << "an identity of the limit's length is kept as it is";
  EXPECT_FALSE(j[2]["headers"].contains(kLongEventIdHeader));
  // A mapped identity is bounded the same way.
  Message mapped = nats_message();
  mapped.data = R"({"id": ")" + std::string(3000, 'm') + R"("})";
  auto k = rows({mapped}, inbox_options({{"event_id", "$.id"}}));
  EXPECT_EQ(k[0]["event_id"], "sha256:" + util::sha256_hex(std::string(3000, 'm')));
}

TEST(InboxRows, TabsNewlinesAndBackslashesSurviveTheCopyText) {
  Message m = nats_message();
  m.dedup_key = "id\twith\ntab\\and\rnewline";
  m.subject = "a\\b";
  m.data = "{\n\t\"text\": \"line\\nbreak\\t\\\\ \\\"q\\\"\"\r\n}";  // JSON with whitespace and escapes
  m.headers = {{"k\t", "v\n\\"}};
  auto j = rows({m, nats_message()}, inbox_options(json::object()));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["event_id"], m.dedup_key);
  EXPECT_EQ(j[0]["event_type"], "a\\b");
  EXPECT_EQ(j[0]["payload"]["text"], "line\nbreak\t\\ \"q\"");
  EXPECT_EQ(j[0]["headers"]["k\t"], "v\n\\");
  EXPECT_TRUE(j[0]["error"].is_null());
  EXPECT_EQ(j[1]["event_id"], "commands:42");
}

TEST(InboxRows, TraceIdOfTraceparent) {
  EXPECT_EQ(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace_id_of("not-a-traceparent"), "not-a-traceparent");
}

TEST(InboxRows, JsonThatJsonbRefusesIsStoredAsAStringNotInsertedRaw) {
  // Leading zeros and lone surrogate escapes are not JSON to PostgreSQL: inserted raw they would
  // fail the whole batch.
  for (std::string body : {"01", R"({"n":[007]})", R"({"s":"\ud800"})", R"(["\udc00x"])"}) {
    Message m = nats_message();
    m.data = body;
    auto j = rows({m}, inbox_options(json::object()));
    EXPECT_EQ(j[0]["payload"], body);
    EXPECT_NE(j[0]["error"].get<std::string>().find("not valid JSON"), std::string::npos) << body;
  }
  Message m = nats_message();
  m.data = R"({"s":"\ud83d\ude00","n":0.5})";  // a surrogate pair and a leading "0." are fine
  EXPECT_TRUE(rows({m}, inbox_options(json::object()))[0]["error"].is_null());
}

TEST(InboxRows, AJsonPathKeyStartingWithHashIsAKeyNotAnArrayIndex) {
  // "$.#tag" once read "#tag" as an array index and stopped the relay on the first message.
  auto o = inbox_options(json{{"event_id", "$.#tag"}, {"aggregate_id", "$.#"}});
  Message m = nats_message();
  m.data = R"({"#tag":"t-1","#":"agg"})";
  auto j = rows({m}, o);
  EXPECT_EQ(j[0]["event_id"], "t-1");
  EXPECT_EQ(j[0]["aggregate_id"], "agg");
}
