// The HTTP receiver seen from the outside: a real HTTP client gets each answer the receiver gives
// (2xx only once committed, 401/403 for credentials, 400 naming the problem, 413, 429 and 503 with
// Retry-After), a duplicate Idempotency-Key gives one row, and the webhook sink of one pipeline
// delivers into the receiver of another with its signature checked.
#include <fstream>
#include <future>
#include <thread>

#include "../fixture.h"
#include "http_post.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {


json receiver(int port, const std::string& path) {
  return {{"source_type", "http"}, {"listen", "127.0.0.1:" + std::to_string(port)}, {"path", path}, {"inbox_name", "hooks"}};
}

}  // namespace

TEST(HttpSource, EachAnswerOfTheReceiverAsAClientSeesIt) {
  TestDb db;
  int port = free_receiver_port();
  json cfg = receiver(port, "/hooks");
  cfg["bearer_token"] = kToken;
  cfg["hmac_secret"] = kSecret;
  cfg["max_body_bytes"] = 4096;
  set_inbox_pipeline(db, "in", cfg);
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << relay.err();

  auto both = [&](const std::string& body, long long t, const std::string& secret = kSecret) {
    auto h = bearer();
    h.emplace("X-Pgtrickle-Signature", sign(secret, t, body));
    h.emplace("traceparent", "00-abc-01");
    return h;
  };
  std::string body = R"({"order_id": 7, "kind": "paid"})";
  Answer ok = post(port, "/hooks", body, both(body, unix_now()));
  EXPECT_EQ(ok.status, 200) << ok.body;

  Answer none = post(port, "/hooks", body, {});
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.body.find("Bearer"), std::string::npos) << none.body;
  httplib::Headers wrong_token = {{"Authorization", "Bearer nope"}, {"X-Pgtrickle-Signature", sign(kSecret, unix_now(), body)}};
  EXPECT_EQ(post(port, "/hooks", body, wrong_token).status, 401);
  EXPECT_EQ(post(port, "/hooks", body, bearer()).status, 401) << "the signature is required too";
  EXPECT_EQ(post(port, "/hooks", body, both(body, unix_now(), "other-key")).status, 401);
  Answer changed = post(port, "/hooks", R"({"order_id": 8, "kind": "paid"})", both(body, unix_now()));
  EXPECT_EQ(changed.status, 401);
  EXPECT_NE(changed.body.find("does not match the body"), std::string::npos) << changed.body;
  Answer stale = post(port, "/hooks", body, both(body, unix_now() - 3600));
  EXPECT_EQ(stale.status, 403) << "a replayed signature is refused";
  EXPECT_NE(stale.body.find("300 s"), std::string::npos) << stale.body;

  std::string broken = R"({"order_id": 7,)";
  Answer not_json = post(port, "/hooks", broken, both(broken, unix_now()));
  EXPECT_EQ(not_json.status, 400);
  EXPECT_NE(not_json.body.find("not valid JSON"), std::string::npos) << not_json.body;
  std::string latin1 = "{\"name\": \"caf\xe9\"}";
  Answer not_utf8 = post(port, "/hooks", latin1, both(latin1, unix_now()));
  EXPECT_EQ(not_utf8.status, 400);
  EXPECT_NE(not_utf8.body.find("UTF-8"), std::string::npos) << not_utf8.body;
  std::string big = "{\"note\": \"" + std::string(5000, 'x') + "\"}";
  Answer too_big = post(port, "/hooks", big, both(big, unix_now()));
  EXPECT_EQ(too_big.status, 413);
  EXPECT_NE(too_big.body.find("max_body_bytes"), std::string::npos) << too_big.body;
  EXPECT_EQ(post(port, "/elsewhere", body, both(body, unix_now())).status, 404);
  httplib::Client c("127.0.0.1", port);
  auto put = c.Put("/hooks", both(body, unix_now()), body, "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 405);

  // Only the accepted request landed, under the digest of its body, with its headers but no credentials.
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_hooks"), 1);
  EXPECT_EQ(db.value("SELECT event_id FROM pgtrickle.inbox_hooks"), "sha256:" + sha256_hex(body));
  EXPECT_EQ(db.value("SELECT event_type || ' ' || source || ' ' || (payload->>'order_id') FROM pgtrickle.inbox_hooks"),
            "/hooks http:/hooks 7");
  EXPECT_EQ(db.value("SELECT headers->>'traceparent' FROM pgtrickle.inbox_hooks"), "00-abc-01");
  EXPECT_EQ(db.value("SELECT (headers ? 'authorization') OR (headers ? 'x-pgtrickle-signature') FROM pgtrickle.inbox_hooks"), "f");
}

TEST(HttpSource, ADuplicateIdempotencyKeyGivesOneRowAndBothRequestsSucceed) {
  TestDb db;
  int port = free_receiver_port();
  json cfg = receiver(port, "/orders");
  cfg["bearer_token"] = kToken;
  set_inbox_pipeline(db, "in", cfg);
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/orders")) << relay.err();
  Answer first = post(port, "/orders", R"({"order_id": 1, "attempt": 1})", bearer("order-1"));
  Answer second = post(port, "/orders", R"({"order_id": 1, "attempt": 2})", bearer("order-1"));
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(db.value("SELECT string_agg(event_id || ':' || (payload->>'attempt'), ',') FROM pgtrickle.inbox_hooks"), "order-1:1");
  EXPECT_EQ(metric(relay.admin_port(), "pgtrickle_relay_dedup_skipped_total{pipeline=\"in\"}"), 1);
}

// An Idempotency-Key of 10 kB is more than the inbox's primary key can index: it is stored as its
// digest (the key as sent in the headers), a resend of it is deduplicated, and the request after
// it is stored as well: one sender's key does not stop the receiver.
TEST(HttpSource, AnIdempotencyKeyTooLongForTheIndexIsStoredAsItsDigestAndStillDeduplicates) {
  TestDb db;
  int port = free_receiver_port();
  json cfg = receiver(port, "/orders");
  cfg["bearer_token"] = kToken;
  set_inbox_pipeline(db, "in", cfg);
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/orders")) << relay.err();
  std::string key = incompressible_text(10000);
  Answer first = post(port, "/orders", R"({"order_id": 1, "attempt": 1})", bearer(key), 15s);
  Answer again = post(port, "/orders", R"({"order_id": 1, "attempt": 2})", bearer(key), 15s);
  Answer next = post(port, "/orders", R"({"order_id": 2})", bearer("order-2"), 15s);
  EXPECT_EQ(first.status, 200) << first.body << relay.err();
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(db.value("SELECT string_agg(event_id || ':' || coalesce(payload->>'attempt', '-'), ',' ORDER BY received_at) "
                     "FROM pgtrickle.inbox_hooks"),
            "sha256:" + sha256_hex(key) + ":1,order-2:-");
  EXPECT_EQ(db.value("SELECT headers->>'pgtrickle-event-id' = " + relay::pg::quote_literal(key) +
                     " FROM pgtrickle.inbox_hooks WHERE payload->>'order_id' = '1'"),
            "t");
}

TEST(HttpSource, AnAnswerComesOnlyAfterTheCommitAndAStopAnswers503ToWhatWasNotCommitted) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_inbox('hooks')");
  int port = free_receiver_port();
  json cfg = receiver(port, "/hooks");
  cfg["bearer_token"] = kToken;
  set_inbox_pipeline(db, "in", cfg);
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << relay.err();
  ASSERT_EQ(post(port, "/hooks", R"({"n": 0})", bearer("warm-up")).status, 200) << relay.err();

  TableLock lock(db, "pgtrickle.inbox_hooks");
  auto a = std::async(std::launch::async, [&] { return post(port, "/hooks", R"({"n": 1})", bearer("a")); });
  ASSERT_TRUE(insert_blocked(db, 10s));
  EXPECT_EQ(a.wait_for(1s), std::future_status::timeout) << "no answer before the commit";
  auto b = std::async(std::launch::async, [&] { return post(port, "/hooks", R"({"n": 2})", bearer("b")); });
  std::this_thread::sleep_for(300ms);  // b waits behind a's batch
  relay.signal(SIGTERM);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_hooks WHERE event_id = 'a'"), 0);
  lock.release();

  Answer got_a = a.get(), got_b = b.get();
  EXPECT_EQ(got_a.status, 200) << got_a.body;
  EXPECT_EQ(got_b.status, 503) << got_b.body;
  EXPECT_EQ(got_b.retry_after, "1");
  EXPECT_EQ(relay.wait(10s), 0) << relay.err();
  EXPECT_EQ(db.value("SELECT string_agg(event_id, ',' ORDER BY event_id) FROM pgtrickle.inbox_hooks"), "a,warm-up");
}

TEST(HttpSource, MoreMessagesWaitingThanMaxPendingGet429WithRetryAfter) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_inbox('hooks')");
  int port = free_receiver_port();
  std::string toml = write_toml(db, "[[pipeline]]\nname = \"in\"\nsource = { type = \"http\", listen = \"127.0.0.1:" + std::to_string(port) +
                                        "\", path = \"/hooks\", bearer_token = \"" + kToken + "\", max_pending = 2 }\n"
                                        "sink = { type = \"inbox\", inbox_name = \"hooks\" }\n");
  RelayProcess relay({"--config", toml});
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << relay.err();
  ASSERT_EQ(post(port, "/hooks", R"({"n": 0})", bearer("warm-up")).status, 200) << relay.err();

  TableLock lock(db, "pgtrickle.inbox_hooks");
  auto a = std::async(std::launch::async, [&] { return post(port, "/hooks", R"({"n": 1})", bearer("a")); });
  ASSERT_TRUE(insert_blocked(db, 10s));
  auto b = std::async(std::launch::async, [&] { return post(port, "/hooks", R"({"n": 2})", bearer("b")); });
  std::this_thread::sleep_for(300ms);
  Answer c = post(port, "/hooks", R"({"n": 3})", bearer("c"), 5s);
  EXPECT_EQ(c.status, 429) << c.body;
  EXPECT_EQ(c.retry_after, "1");
  EXPECT_NE(c.body.find("max_pending 2"), std::string::npos) << c.body;
  lock.release();
  EXPECT_EQ(a.get().status, 200);
  EXPECT_EQ(b.get().status, 200);
  EXPECT_EQ(post(port, "/hooks", R"({"n": 3})", bearer("c")).status, 200) << "sent again once there is room";
  EXPECT_EQ(db.value("SELECT string_agg(event_id, ',' ORDER BY event_id) FROM pgtrickle.inbox_hooks"), "a,b,c,warm-up");
}

TEST(HttpSource, AReceiverWithoutCredentialsIsRefusedWithWhatToSet) {
  TestDb db;
  int port = free_receiver_port();
  set_inbox_pipeline(db, "open", receiver(port, "/hooks"));
  RelayProcess relay(relay_args(db));
  std::string error = wait_for_pipeline_error(relay, "open");
  EXPECT_NE(error.find("set bearer_token and/or hmac_secret"), std::string::npos) << error;
  EXPECT_EQ(post(port, "/hooks", "{}", {}, 2s).status, 0) << "nothing listens";
}

// Another server on the port (one that allows sharing it, as SO_REUSEPORT does) does not get half
// of the receiver's requests: the receiver refuses the port and listens once it is free.
TEST(HttpSource, APortAnotherServerListensOnIsRefusedNotShared) {
  TestDb db;
  int port = free_receiver_port();
  int other = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // not inherited by the relay
  int yes = 1;
  ::setsockopt(other, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
  ::setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(other, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(other, 16), 0);

  json cfg = receiver(port, "/hooks");
  cfg["bearer_token"] = kToken;
  set_inbox_pipeline(db, "in", cfg);
  RelayProcess relay(relay_args(db));
  std::string error = wait_for_pipeline_error(relay, "in");
  EXPECT_NE(error.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos) << error;
  ::close(other);
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << "the receiver listens once the port is free\n" << relay.err();
  EXPECT_EQ(post(port, "/hooks", R"({"n": 1})", bearer("once")).status, 200);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_hooks"), 1);
}

#if RELAY_WITH_WEBHOOK
// outbox → webhook sink (signed, per event and batched) → HTTP receiver → inbox, in one relay: the
// inbox rows carry the outbox's dedup keys, so a replay of the outbox lands nothing twice.
TEST(HttpSource, TheWebhookSinkOfOnePipelineDeliversIntoTheReceiverOfAnother) {
  TestDb db;
  db.exec("CREATE TABLE orders (id int PRIMARY KEY, amount numeric)");
  db.exec("SELECT pgtrickle.enable_outbox('orders')");
  int single = free_receiver_port(), batched = free_receiver_port();
  while (batched == single) batched = free_receiver_port();
  for (auto [name, port] : {std::pair{"single", single}, std::pair{"batched", batched}}) {
    json in = receiver(port, "/orders");
    in["hmac_secret"] = kSecret;
    in["inbox_name"] = std::string("orders_") + name;
    set_inbox_pipeline(db, std::string("in-") + name, in);
  }
  db.exec("SELECT pgtrickle.set_relay_outbox('out-single', config => " +
          relay::pg::quote_literal(json{{"stream_table", "orders"}, {"sink_type", "webhook"}, {"signing_secret", kSecret},
                                        {"url", "http://127.0.0.1:" + std::to_string(single) + "/orders"}}.dump()) + "::jsonb)");
  db.exec("SELECT pgtrickle.set_relay_outbox('out-batched', config => " +
          relay::pg::quote_literal(json{{"stream_table", "orders"}, {"sink_type", "webhook"}, {"signing_secret", kSecret}, {"batch", true},
                                        {"url", "http://127.0.0.1:" + std::to_string(batched) + "/orders"}}.dump()) + "::jsonb)");
  db.exec("INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 300) g");
  RelayProcess relay(relay_args(db));
  auto landed = [&](const char* inbox) {
    std::string t = std::string("pgtrickle.inbox_") + inbox;
    return db.value("SELECT to_regclass('" + t + "') IS NOT NULL") == "t" ? db.number("SELECT count(*) FROM " + t) : -1;
  };
  ASSERT_TRUE(wait_until([&] { return landed("orders_single") == 300 && landed("orders_batched") == 300; }, 30s)) << relay.err();
  for (const char* inbox : {"orders_single", "orders_batched"}) {
    std::string t = std::string("pgtrickle.inbox_") + inbox;
    EXPECT_EQ(db.number("SELECT count(*) FROM " + t + " WHERE event_id = payload->>'dedup_key'"), 300) << inbox;
    EXPECT_EQ(db.number("SELECT count(DISTINCT payload->'payload'->>'id') FROM " + t), 300) << inbox;
  }
  // A replay of the outbox is delivered again and lands nothing twice.
  relay.signal(SIGTERM);
  ASSERT_EQ(relay.wait(15s), 0) << relay.err();
  db.exec("DELETE FROM pgtrickle.relay_offsets WHERE pipeline IN ('out-single', 'out-batched')");
  RelayProcess again(relay_args(db));
  int port = again.admin_port();
  auto skipped = [&](const char* p) { return metric(port, std::string("pgtrickle_relay_dedup_skipped_total{pipeline=\"") + p + "\"}"); };
  EXPECT_TRUE(wait_until([&] { return skipped("in-single") == 300 && skipped("in-batched") == 300; }, 30s)) << again.err();
  EXPECT_EQ(landed("orders_single"), 300);
  EXPECT_EQ(landed("orders_batched"), 300);
}
#endif

TEST(HttpSource, RequestsOverTheRateGet429WithRetryAfterEvenWithoutCredentials) {
  TestDb db;
  int port = free_receiver_port();
  json cfg = receiver(port, "/rated");
  cfg["bearer_token"] = kToken;
  cfg["max_requests_per_s"] = 5;
  set_inbox_pipeline(db, "rated", cfg);
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/rated")) << relay.err();
  int accepted = 0, limited = 0;
  for (int i = 0; i < 20; ++i) {
    std::string body = "{\"n\": " + std::to_string(i) + "}";
    Answer a = post(port, "/rated", body, i % 2 ? bearer() : httplib::Headers{});
    if (a.status == 429) {
      ++limited;
      EXPECT_NE(a.body.find("max_requests_per_s (5)"), std::string::npos) << a.body;
      EXPECT_GE(std::stoi(a.retry_after), 1) << "Retry-After says when to come back";
    } else if (a.status == 200) {
      ++accepted;
    }
  }
  EXPECT_GE(limited, 10) << "20 requests in a burst, at most about 5 pass";
  EXPECT_LE(accepted, 6);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_hooks"), accepted);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(post(port, "/rated", "{\"n\": 99}", bearer()).status, 200) << "the rate recovers";
}
