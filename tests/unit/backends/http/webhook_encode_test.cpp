// The webhook sink's wire format, byte for byte, and its classification of HTTP answers.
#if RELAY_WITH_WEBHOOK
#include <gtest/gtest.h>

#include "http/curl_client.h"
#include "util/digest.h"
#include "backends/http/webhook_encode.h"

using namespace relay;
using namespace relay::http;
using namespace std::string_literals;

namespace {

Message msg(std::string dedup, std::string body) {
  Message m;
  m.dedup_key = std::move(dedup);
  m.body = std::move(body);
  return m;
}

TEST(WebhookEncode, PerEventHeadersCarryTheIdentityTheApplicationHeadersAndTheConfiguredOnes) {
  EncodeOptions o;
  o.headers = {{"Authorization", "Bearer token123"}, {"X-Custom-Header", "value"}};
  std::vector<Header> app = {{"traceparent", "00-abc-def-01"}, {"ce-type", "order.created"}};
  std::vector<std::string> h;
  encode_headers("outbox_orders:7:0", app, R"({"a":1})", o, 1700000000, h);
  EXPECT_EQ(h, (std::vector<std::string>{"Content-Type: application/json", "Idempotency-Key: outbox_orders:7:0",
                                         "traceparent: 00-abc-def-01", "ce-type: order.created",
                                         "Authorization: Bearer token123", "X-Custom-Header: value"}));
}

TEST(WebhookEncode, TheSignatureIsHmacSha256OverTimestampDotBody) {
  EncodeOptions o;
  o.signing_secret = "whsec_test";
  std::vector<std::string> h;
  encode_headers("k", {}, R"({"a":1})", o, 1700000000, h);
  ASSERT_EQ(h.size(), 3u);
  // Python: hmac.new(b'whsec_test', b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
  EXPECT_EQ(h[2], "X-Pgtrickle-Signature: t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
}

TEST(WebhookEncode, ApplicationHeadersCannotOverrideFramingIdentityOrCredentials) {
  EncodeOptions o;
  o.headers = {{"X-Tenant", "configured"}};
  std::vector<Header> app = {{"Host", "evil"},           {"Content-Length", "1"}, {"Idempotency-Key", "other"},
                             {"authorization", "Basic x"}, {"X-Tenant", "from-row"}, {"bad name", "v"},
                             {"X-Split", "a\r\nInjected: yes"}, {"X-Ok", "fine"}};
  std::vector<std::string> h;
  encode_headers("k", app, "{}", o, 0, h);
  EXPECT_EQ(h, (std::vector<std::string>{"Content-Type: application/json", "Idempotency-Key: k", "X-Ok: fine", "X-Tenant: configured"}));
}

// A table's owner names it, and its name is the first part of the identity (and, in CloudEvents'
// binary mode, of ce-source and ce-type): whatever it holds, each stays one header, and the owner
// adds none to the pipeline admin's requests.
TEST(WebhookEncode, ANameWithLineBreaksStaysInsideItsHeader) {
  EncodeOptions o;
  o.headers = {{"Authorization", "Bearer admin"}};
  std::vector<Header> app = {{"ce-source", "/pgtrickle/orders%0D%0AAuthorization: x"},
                             {"X-Tab", "a\tb"},
                             {"X-Del", "a\x7f" "b"},
                             {"X-Nul", "a\0b"s}};
  std::vector<std::string> h;
  encode_headers("orders\r\nAuthorization: x%\0:7:0"s, app, "{}", o, 0, h);
  EXPECT_EQ(h, (std::vector<std::string>{"Content-Type: application/json",
                                         "Idempotency-Key: orders%0D%0AAuthorization: x%25%00:7:0",
                                         "ce-source: /pgtrickle/orders%0D%0AAuthorization: x", "Authorization: Bearer admin"}));
  // The same message has the same key on every try, batched or not.
  std::vector<std::string> again;
  encode_headers("orders\r\nAuthorization: x%\0:7:0"s, {}, "{}", o, 0, again);
  EXPECT_EQ(again[1], h[1]);
  std::vector<Message> b = {msg("t\n:1:0", "{}"), msg("t\n:2:0", "{}")};
  again.clear();
  encode_headers(batch_idempotency_key(b), {}, "[]", o, 0, again);
  EXPECT_EQ(again[1], "Idempotency-Key: t%0A:1:0..t%0A:2:0");
  // A configured value with a control character is refused when the config is read.
  EXPECT_FALSE(parse_headers(nlohmann::json{{"X-A", "a\tb"}}));
  EXPECT_FALSE(parse_headers(nlohmann::json{{"X-A", "a\r\nB: c"}}));
}

TEST(WebhookEncode, AConfiguredContentTypeReplacesTheDefault) {
  EncodeOptions o;
  o.headers = {{"content-type", "application/cloudevents+json"}};
  std::vector<std::string> h;
  encode_headers("k", {}, "{}", o, 0, h);
  EXPECT_EQ(h, (std::vector<std::string>{"Idempotency-Key: k", "content-type: application/cloudevents+json"}));
}

TEST(WebhookEncode, ABatchIsAJsonArrayOfTheBodiesInOrderWithARangeKey) {
  std::vector<Message> b = {msg("o:1:0", R"({"a":1})"), msg("o:2:0", R"({"b":2})")};
  std::string body;
  encode_batch_body(b, body);
  EXPECT_EQ(body, R"([{"a":1},{"b":2}])");
  EXPECT_EQ(batch_idempotency_key(b), "o:1:0..o:2:0");
  EXPECT_EQ(batch_idempotency_key(std::span(b).first(1)), "o:1:0");
  EXPECT_EQ(signature("whsec_test", 1700000000, body), "t=1700000000,v1=9aec49306f87b5cca94740f6b5afc9e7f4c6e0d2f1069b3f80646daa2b4b9d87");
}

struct StatusRow {
  long status;
  Answer answer;
};
void PrintTo(const StatusRow& r, std::ostream* os) { *os << "HTTP " << r.status; }  // names the test case
class WebhookStatus : public testing::TestWithParam<StatusRow> {};
TEST_P(WebhookStatus, IsClassified) { EXPECT_EQ(classify_status(GetParam().status), GetParam().answer) << GetParam().status; }
INSTANTIATE_TEST_SUITE_P(Table, WebhookStatus,
                         testing::Values(StatusRow{200, Answer::delivered}, StatusRow{201, Answer::delivered},
                                         StatusRow{204, Answer::delivered}, StatusRow{301, Answer::retriable},
                                         StatusRow{400, Answer::permanent}, StatusRow{401, Answer::retriable},
                                         StatusRow{403, Answer::retriable}, StatusRow{404, Answer::permanent},
                                         StatusRow{407, Answer::retriable}, StatusRow{408, Answer::retriable},
                                         StatusRow{409, Answer::permanent}, StatusRow{413, Answer::permanent},
                                         StatusRow{422, Answer::permanent}, StatusRow{425, Answer::retriable},
                                         StatusRow{429, Answer::retriable}, StatusRow{500, Answer::retriable},
                                         StatusRow{502, Answer::retriable}, StatusRow{503, Answer::retriable},
                                         StatusRow{504, Answer::retriable}));

TEST(WebhookEncode, ConfiguredHeadersAreChecked) {
  EXPECT_TRUE(parse_headers(nlohmann::json{{"Authorization", "Bearer x"}, {"X-Num", 5}}));
  auto bad_name = parse_headers(nlohmann::json{{"Bad Name", "x"}});
  ASSERT_FALSE(bad_name);
  EXPECT_NE(bad_name.error().message.find("Bad Name"), std::string::npos);
  EXPECT_FALSE(parse_headers(nlohmann::json{{"Content-Length", "3"}}));
  EXPECT_FALSE(parse_headers(nlohmann::json{{"Idempotency-Key", "x"}}));
  EXPECT_FALSE(parse_headers(nlohmann::json{{"X-A", "a\nb"}}));
  EXPECT_FALSE(parse_headers(nlohmann::json{{"X-A", {1, 2}}}));
  EXPECT_FALSE(parse_headers(nlohmann::json::array()));
}

// The HTTP client's helpers, shared with the SQS sink.
TEST(HttpClient, Sha256AndHmacMatchTheStandardVectors) {
  EXPECT_EQ(util::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(util::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(util::sha256_hex(std::string(1000, 'a')), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
  // RFC 4231 test case 2, and a key longer than the block (hashed first).
  EXPECT_EQ(util::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(util::hmac_sha256_hex(std::string(100, 'k'), "data"), "09380ee4b802da2363bc96e8e0d133ba275458ea8ddbc564f986fc12b31f8cb1");
}

TEST(HttpClient, RetryAfterIsReadAsSecondsOrAnHttpDate) {
  EXPECT_EQ(http::retry_after_ms("2", 0), 2000);
  EXPECT_EQ(http::retry_after_ms(" 0 ", 0), 0);
  EXPECT_EQ(http::retry_after_ms("", 0), -1);
  EXPECT_EQ(http::retry_after_ms("soon", 0), -1);
  // Tue, 14 Nov 2023 22:13:20 GMT is unix 1700000000.
  EXPECT_EQ(http::retry_after_ms("Tue, 14 Nov 2023 22:13:25 GMT", 1700000000), 5000);
  EXPECT_EQ(http::retry_after_ms("Tue, 14 Nov 2023 22:13:00 GMT", 1700000000), 0);
}

TEST(HttpClient, TransportErrorsAreRetriableButABadUrlIsNot) {
  EXPECT_EQ(http::classify_curl_error(7 /* CURLE_COULDNT_CONNECT */), ErrorKind::retriable);
  EXPECT_EQ(http::classify_curl_error(28 /* CURLE_OPERATION_TIMEDOUT */), ErrorKind::retriable);
  EXPECT_EQ(http::classify_curl_error(56 /* CURLE_RECV_ERROR */), ErrorKind::retriable);
  EXPECT_EQ(http::classify_curl_error(1 /* CURLE_UNSUPPORTED_PROTOCOL */), ErrorKind::permanent);
  EXPECT_EQ(http::classify_curl_error(3 /* CURLE_URL_MALFORMAT */), ErrorKind::permanent);
}

}  // namespace
#endif
