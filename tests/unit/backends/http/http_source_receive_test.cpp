// The HTTP receiver's decisions without a socket: the bearer token, the webhook sink's signature
// (with its replay window), which headers are kept, and how a body becomes messages.
#include <gtest/gtest.h>

#include "backends/http/http_receive.h"
#include "util/digest.h"

using namespace relay;
using namespace relay::http;

namespace {

std::string signature(const std::string& secret, std::int64_t t, const std::string& body) {
  return "t=" + std::to_string(t) + ",v1=" + util::hmac_sha256_hex(secret, std::to_string(t) + "." + body);
}

TEST(HttpSourceReceive, TheBearerTokenMustMatchExactly) {
  EXPECT_TRUE(bearer_matches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(bearer_matches("bearer  s3cret ", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(bearer_matches("Basic czNjcmV0", "s3cret"));
  EXPECT_FALSE(bearer_matches("s3cret", "s3cret"));
  EXPECT_FALSE(bearer_matches("", "s3cret"));
}

TEST(HttpSourceReceive, TheSignatureOfTheWebhookSinkIsVerifiedWithAReplayWindow) {
  const std::string body = R"({"n":1})";
  const std::int64_t now = 1700000000;
  EXPECT_EQ(verify_signature(signature("k", now, body), "k", body, now, 300), SignatureCheck::ok);
  EXPECT_EQ(verify_signature(signature("k", now - 300, body), "k", body, now, 300), SignatureCheck::ok);
  std::int64_t age = 0;
  EXPECT_EQ(verify_signature(signature("k", now - 301, body), "k", body, now, 300, &age), SignatureCheck::stale);
  EXPECT_EQ(age, 301);
  EXPECT_EQ(verify_signature(signature("k", now + 301, body), "k", body, now, 300), SignatureCheck::stale) << "from the future";
  EXPECT_EQ(verify_signature(signature("other", now, body), "k", body, now, 300), SignatureCheck::mismatch);
  EXPECT_EQ(verify_signature(signature("k", now, body), "k", R"({"n":2})", now, 300), SignatureCheck::mismatch);
  EXPECT_EQ(verify_signature(signature("k", now - 1, body).replace(0, 12, "t=" + std::to_string(now)), "k", body, now, 300),
            SignatureCheck::mismatch)
      << "the timestamp is signed too";
  // Several v1 values (a sender rotating its key): one match is enough.
  EXPECT_EQ(verify_signature("t=" + std::to_string(now) + ",v1=00ff," + signature("k", now, body).substr(13), "k", body, now, 300),
            SignatureCheck::ok);
  EXPECT_EQ(verify_signature("", "k", body, now, 300), SignatureCheck::missing);
  EXPECT_EQ(verify_signature("v1=abc", "k", body, now, 300), SignatureCheck::malformed);
  EXPECT_EQ(verify_signature("t=12x,v1=abc", "k", body, now, 300), SignatureCheck::malformed);
  EXPECT_EQ(verify_signature("t=" + std::to_string(now), "k", body, now, 300), SignatureCheck::malformed);
}

TEST(HttpSourceReceive, CredentialsAndTheConnectionsOwnHeadersAreNotKept) {
  for (const char* name : {"Authorization", "authorization", "X-Pgtrickle-Signature", "Host", "Content-Length", "Connection",
                           "Cookie", "Proxy-Authorization", "Transfer-Encoding", "REMOTE_ADDR", "LOCAL_PORT"})
    EXPECT_FALSE(keep_header(name)) << name;
  for (const char* name : {"traceparent", "Idempotency-Key", "Content-Type", "X-Request-Id", "User-Agent"}) EXPECT_TRUE(keep_header(name)) << name;
  EXPECT_EQ(lower("X-Request-Id"), "x-request-id");
}

TEST(HttpSourceReceive, OneEventIsOneMessageUnderItsIdempotencyKeyOrItsDigest) {
  RequestInfo info;
  info.path = "/events";
  info.idempotency_key = "order-7";
  info.headers = {{"traceparent", "00-abc"}};
  info.received_at = 1700000000.5;
  std::vector<Message> out;
  std::string error;
  ASSERT_TRUE(parse_body(R"({"order_id": 7})", info, out, error)) << error;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dedup_key, "order-7");
  EXPECT_EQ(out[0].data, R"({"order_id": 7})");
  EXPECT_EQ(out[0].subject, "/events");
  EXPECT_EQ(out[0].source, "http:/events");
  EXPECT_EQ(out[0].op, Op::event);
  EXPECT_EQ(out[0].headers, info.headers);
  EXPECT_DOUBLE_EQ(out[0].committed_at, 1700000000.5);
  info.idempotency_key.clear();
  out.clear();
  ASSERT_TRUE(parse_body("[1, 2]", info, out, error));
  ASSERT_EQ(out.size(), 1u) << "an array without identities is one event";
  EXPECT_EQ(out[0].dedup_key, "sha256:" + util::sha256_hex("[1, 2]"));
}

// The Idempotency-Key header is not signed: a signed request takes its identity from its body, so a
// replay of it under another key is the same event.
TEST(HttpSourceReceive, ASignedBodyIsIdentifiedByWhatTheSignatureCoversNotByTheHeader) {
  RequestInfo info;
  info.path = "/events";
  info.signed_body = true;
  info.idempotency_key = "attacker-chosen";
  std::vector<Message> out;
  std::string error;
  ASSERT_TRUE(parse_body(R"({"dedup_key": "outbox_orders:7:0", "payload": {"id": 7}})", info, out, error)) << error;
  ASSERT_TRUE(parse_body(R"({"order_id": 7})", info, out, error)) << error;
  ASSERT_TRUE(parse_body(R"({"dedup_key": 12})", info, out, error)) << error;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:7:0") << "the webhook sink's envelope names its identity";
  EXPECT_EQ(out[1].dedup_key, "sha256:" + util::sha256_hex(R"({"order_id": 7})"));
  EXPECT_EQ(out[2].dedup_key, "sha256:" + util::sha256_hex(R"({"dedup_key": 12})")) << "only a string names an identity";
}

TEST(HttpSourceReceive, ABatchedWebhookBodyIsOneMessagePerElementUnderItsOwnDedupKey) {
  RequestInfo info;
  info.path = "/in";
  info.idempotency_key = "outbox_orders:1:0..outbox_orders:2:0";
  std::string body = R"([{"dedup_key":"outbox_orders:1:0","payload":{"id":1}}, {"payload":{"id":2},"dedup_key":"outbox_orders:2:0"}])";
  std::vector<Message> out;
  std::string error;
  ASSERT_TRUE(parse_body(body, info, out, error)) << error;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].dedup_key, "outbox_orders:1:0");
  EXPECT_EQ(out[0].data, R"({"dedup_key":"outbox_orders:1:0","payload":{"id":1}})");
  EXPECT_EQ(out[1].dedup_key, "outbox_orders:2:0");
  EXPECT_EQ(out[1].data, R"({"payload":{"id":2},"dedup_key":"outbox_orders:2:0"})");
  // One element without its own identity: the body is one event after all.
  out.clear();
  ASSERT_TRUE(parse_body(R"([{"dedup_key":"a"},{"id":2}])", info, out, error));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dedup_key, info.idempotency_key);
}

TEST(HttpSourceReceive, ABodyThatIsNotJsonTextIsRefusedWithWhy) {
  RequestInfo info;
  info.path = "/in";
  std::vector<Message> out;
  std::string error;
  EXPECT_FALSE(parse_body("{\"name\": \"caf\xe9\"}", info, out, error));
  EXPECT_NE(error.find("UTF-8"), std::string::npos) << error;
  EXPECT_FALSE(parse_body(" \n", info, out, error));
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
  EXPECT_FALSE(parse_body(R"({"a": 1,})", info, out, error));
  EXPECT_NE(error.find("not valid JSON"), std::string::npos) << error;
  EXPECT_NE(error.find("line 1, column"), std::string::npos) << error;
  EXPECT_FALSE(parse_body("{} {}", info, out, error)) << "two values";
  EXPECT_TRUE(out.empty());
}

}  // namespace

TEST(HttpReceiveRateLimit, AllowsTheRateWithABurstAndSaysHowLongToWait) {
  relay::http::RateLimit limit(10);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(limit.take(100.0)) << "a burst of up to the rate passes, request " << i;
  double wait = 0;
  EXPECT_FALSE(limit.take(100.0, &wait));
  EXPECT_NEAR(wait, 0.1, 1e-9) << "one more in a tenth of a second at 10/s";
  EXPECT_TRUE(limit.take(100.1 + 1e-9));
  EXPECT_FALSE(limit.take(100.1 + 2e-9));
  // A quiet second refills the bucket, but never beyond one burst.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(limit.take(105.0));
  EXPECT_FALSE(limit.take(105.0));
}

TEST(HttpReceiveRateLimit, ZeroMeansNoLimit) {
  relay::http::RateLimit off(0);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(off.take(1.0));
}
