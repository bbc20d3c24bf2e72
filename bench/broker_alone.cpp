#include "broker_alone.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#if RELAY_WITH_NATS
#include <nats/nats.h>
#endif
#if RELAY_WITH_KAFKA
#include <librdkafka/rdkafka.h>
#endif
#if RELAY_WITH_RABBITMQ
#include <amqp.h>
#include <amqp_tcp_socket.h>
#endif

namespace bench {

namespace {

// The shape and size of the relay's envelope for row `i` of the forward backlog.
[[maybe_unused]] std::string relay_envelope(int i) {
  return fmt::format(
      R"({{"dedup_key":"outbox_bench:{0}:0","stream_table":"bench","op":"insert","outbox_id":{0},"refresh_id":null,)"
      R"("key":"{0}","timestamp":"2026-11-22T13:44:38.069Z","is_full_refresh":false,)"
      R"("payload":{{"id":{0},"name":"customer-{0}","amount":{1}}}}})",
      i, i * 1.5);
}

}  // namespace

#if RELAY_WITH_NATS
namespace {

void count_failure(jsCtx*, jsPubAckErr*, void* failures) { ++*static_cast<long*>(failures); }

// Connects with `jo`, creates the file-storage stream `name` for "<name>.>", runs `use` with the
// JetStream context and the subject "<name>.insert", then deletes the stream; false when it could
// not connect or create the stream.
bool with_nats_stream(const std::string& url, jsOptions& jo, const std::string& name,
                      const std::function<void(jsCtx*, const std::string&)>& use) {
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return false;
  jsCtx* js = nullptr;
  std::string subjects = name + ".>";
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = name.c_str();
  sc.Subjects = subject_list;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  bool ran = natsConnection_JetStream(&js, nc, &jo) == NATS_OK && js_AddStream(nullptr, js, &sc, nullptr, nullptr) == NATS_OK;
  if (ran) {
    use(js, name + ".insert");
    js_DeleteStream(js, name.c_str(), nullptr, nullptr);
  }
  if (js) jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return ran;
}

// A message carrying `body` with its Nats-Msg-Id, as the relay publishes it; nullptr on failure.
natsMsg* nats_message(const std::string& subject, const std::string& body, const std::string& id) {
  natsMsg* m = nullptr;
  if (natsMsg_Create(&m, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size())) == NATS_OK &&
      natsMsgHeader_Set(m, "Nats-Msg-Id", id.c_str()) == NATS_OK)
    return m;
  if (m) natsMsg_Destroy(m);
  return nullptr;
}

}  // namespace
#endif

double nats_publish_alone(const std::string& url, int messages) {
#if RELAY_WITH_NATS
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = 4000;
  long failures = 0;  // messages the server did not store
  jo.PublishAsync.ErrHandler = count_failure;
  jo.PublishAsync.ErrHandlerClosure = &failures;
  double rate = -1;
  with_nats_stream(url, jo, fmt::format("alone_{}", getpid()), [&](jsCtx* js, const std::string& subject) {
    auto start = std::chrono::steady_clock::now();
    bool ok = true;
    for (int i = 1; i <= messages && ok; ++i) {
      std::string body = relay_envelope(i);
      natsMsg* m = nats_message(subject, body, fmt::format("outbox_bench:{}:0", i));
      ok = m && js_PublishMsgAsync(js, &m, nullptr) == NATS_OK;
      if (m) natsMsg_Destroy(m);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    if (ok && js_PublishAsyncComplete(js, &po) == NATS_OK && failures == 0)
      rate = messages / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
  return rate;
#else
  (void)url;
  (void)messages;
  return -1;
#endif
}

double kafka_produce_alone(const std::string& brokers, int messages, int transaction_size) {
#if RELAY_WITH_KAFKA
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::string topic = fmt::format("alone_{}_{}", getpid(), transaction_size);
  // The relay's producer settings (src/backends/kafka/kafka_config.cpp).
  for (auto [name, value] : {std::pair<const char*, std::string>{"bootstrap.servers", brokers},
                             {"enable.idempotence", "true"}, {"acks", "all"}, {"partitioner", "murmur2"},
                             {"message.timeout.ms", "30000"}, {"socket.nagle.disable", "true"}})
    rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof err);
  if (transaction_size > 0) {  // as the relay's exactly-once producer
    rd_kafka_conf_set(conf, "transactional.id", topic.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "retry.backoff.ms", "5", err, sizeof err);
  }
  long delivered = 0, failed = 0;
  rd_kafka_conf_set_opaque(conf, &delivered);
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t* rk, const rd_kafka_message_t* m, void*) {
    ++*static_cast<long*>(rd_kafka_opaque(rk));
    if (m->err) ++*static_cast<long*>(m->_private);
  });
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) return -1;
  // A transaction's failure ends the run: the figure is then -1.
  auto ok = [&](rd_kafka_error_t* e) {
    if (!e) return true;
    rd_kafka_error_destroy(e);
    failed = 1;
    return false;
  };
  if (transaction_size > 0 && !ok(rd_kafka_init_transactions(rk, 30000))) {
    rd_kafka_destroy(rk);
    return -1;
  }
  auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= messages && !failed; ++i) {
    if (transaction_size > 0 && (i - 1) % transaction_size == 0 && !ok(rd_kafka_begin_transaction(rk))) break;
    std::string body = relay_envelope(i), key = std::to_string(i), id = fmt::format("outbox_bench:{}:0", i);
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(body.data(), body.size()),
                                  RD_KAFKA_V_HEADER("dedup_key", id.data(), static_cast<ssize_t>(id.size())),
                                  RD_KAFKA_V_OPAQUE(&failed), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 10);
    if (e) break;
    rd_kafka_poll(rk, 0);
    if (transaction_size > 0 && (i % transaction_size == 0 || i == messages) && !ok(rd_kafka_commit_transaction(rk, 60000))) break;
  }
  rd_kafka_flush(rk, 120000);
  double rate = delivered == messages && failed == 0
                    ? messages / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
                    : -1;
  rd_kafka_destroy(rk);
  return rate;
#else
  (void)brokers;
  (void)messages;
  (void)transaction_size;
  return -1;
#endif
}

namespace {

// Sends `messages` lone messages through `send_and_wait` (false: the broker refused or went away),
// one every 1/`rate` s, and returns the percentiles of their round trips.
AckLatency measure(int messages, int rate, const std::function<bool()>& send_and_wait) {
  std::vector<double> ms;
  ms.reserve(messages);
  auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= messages; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (!send_and_wait()) return {};
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    std::this_thread::sleep_until(start + std::chrono::microseconds(1000000LL * i / rate));
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 99 / 100]};
}

}  // namespace

AckLatency kafka_transaction_alone(const std::string& brokers, int messages, int rate) {
#if RELAY_WITH_KAFKA
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::string topic = fmt::format("alone_txn_latency_{}", getpid());
  for (auto [name, value] : {std::pair<const char*, std::string>{"bootstrap.servers", brokers}, {"acks", "all"},
                             {"transactional.id", topic}, {"socket.nagle.disable", "true"}, {"retry.backoff.ms", "5"}})
    rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) return {};
  auto ok = [](rd_kafka_error_t* e) {
    if (!e) return true;
    rd_kafka_error_destroy(e);
    return false;
  };
  AckLatency l;
  if (ok(rd_kafka_init_transactions(rk, 30000))) {
    std::string body = R"({"dedup_key":"outbox_t:1:0","stream_table":"t","op":"insert","payload":{"id":1,"v":"row 1"}})";
    l = measure(messages, rate, [&] {
      return ok(rd_kafka_begin_transaction(rk)) &&
             rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_VALUE(body.data(), body.size()), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR &&
             ok(rd_kafka_commit_transaction(rk, 30000));
    });
  }
  rd_kafka_destroy(rk);
  return l;
#else
  (void)brokers, (void)messages, (void)rate;
  return {};
#endif
}

AckLatency nats_pub_ack_alone(const std::string& url, int messages, int rate) {
#if RELAY_WITH_NATS
  jsOptions jo;
  jsOptions_Init(&jo);
  AckLatency result;
  with_nats_stream(url, jo, fmt::format("alone_ack_{}", getpid()), [&](jsCtx* js, const std::string& subject) {
    std::string body = R"({"dedup_key":"outbox_t:1:0","stream_table":"t","op":"insert","payload":{"id":1,"v":"row 1"}})";
    int i = 0;
    result = measure(messages, rate, [&] {
      natsMsg* m = nats_message(subject, body, fmt::format("outbox_t:{}:0", ++i));
      jsPubAck* ack = nullptr;
      bool ok = m && js_PublishMsg(&ack, js, m, nullptr, nullptr) == NATS_OK;
      if (ack) jsPubAck_Destroy(ack);
      if (m) natsMsg_Destroy(m);
      return ok;
    });
  });
  return result;
#else
  (void)url;
  (void)messages;
  (void)rate;
  return {};
#endif
}

AckLatency rabbitmq_confirm_alone(const std::string& url, int messages, int rate) {
#if RELAY_WITH_RABBITMQ
  std::string buf = url;
  amqp_connection_info info;
  if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK) return {};
  if (*info.vhost == '\0') info.vhost = const_cast<char*>("/");  // "amqp://host/" names the default vhost
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(conn);
  AckLatency result;
  std::string queue = fmt::format("alone_{}", getpid());
  auto ok = [](const amqp_rpc_reply_t& r) { return r.reply_type == AMQP_RESPONSE_NORMAL; };
  if (socket && amqp_socket_open(socket, info.host, info.port) == AMQP_STATUS_OK &&
      ok(amqp_login(conn, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password)) &&
      amqp_channel_open(conn, 1) && ok(amqp_get_rpc_reply(conn)) && amqp_confirm_select(conn, 1) &&
      ok(amqp_get_rpc_reply(conn)) &&
      amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue.c_str()), 0, /*durable=*/1, 0, 0, amqp_empty_table) &&
      ok(amqp_get_rpc_reply(conn)) &&
      amqp_queue_bind(conn, 1, amqp_cstring_bytes(queue.c_str()), amqp_cstring_bytes("amq.topic"),
                      amqp_cstring_bytes((queue + ".#").c_str()), amqp_empty_table) &&
      ok(amqp_get_rpc_reply(conn))) {
    // What the relay's benchmark pipeline publishes: the same properties and headers, mandatory,
    // through amq.topic.
    std::string routing_key = queue + ".insert";
    amqp_table_entry_t headers[3];
    const char* header_pairs[3][2] = {{"pgtrickle-op", "insert"}, {"pgtrickle-stream-table", "t"}, {"pgtrickle-key", "1"}};
    for (int h = 0; h < 3; ++h) {
      headers[h].key = amqp_cstring_bytes(header_pairs[h][0]);
      headers[h].value.kind = AMQP_FIELD_KIND_UTF8;
      headers[h].value.value.bytes = amqp_cstring_bytes(header_pairs[h][1]);
    }
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                   AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.delivery_mode = 2;  // persistent
    props.content_type = amqp_cstring_bytes("application/json");
    props.message_id = amqp_cstring_bytes("outbox_t:1:0");
    props.app_id = amqp_cstring_bytes("pgtrickle-relay");
    props.headers = {3, headers};
    std::string body = R"({"dedup_key":"outbox_t:1:0","stream_table":"t","op":"insert","payload":{"id":1,"v":"row 1"}})";
    // Open loop, as the relay publishes: each message goes out on schedule, whether or not the
    // earlier ones were confirmed; confirms (single or `multiple`) are read in between.
    std::vector<std::chrono::steady_clock::time_point> sent(static_cast<size_t>(messages) + 1);
    std::vector<double> ms;
    ms.reserve(messages);
    std::uint64_t confirmed = 0;  // every tag up to this one has its latency
    bool failed = false;
    // Reads confirms until `until`; false when the broker nacked, closed or went away.
    auto read_confirms = [&](std::chrono::steady_clock::time_point until) {
      while (true) {
        auto left = std::chrono::duration_cast<std::chrono::microseconds>(until - std::chrono::steady_clock::now()).count();
        timeval tv{static_cast<time_t>(std::max<long long>(0, left) / 1000000), static_cast<suseconds_t>(std::max<long long>(0, left) % 1000000)};
        amqp_frame_t frame;
        int rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
        if (rc == AMQP_STATUS_TIMEOUT) return true;
        if (rc != AMQP_STATUS_OK || frame.frame_type != AMQP_FRAME_METHOD || frame.payload.method.id != AMQP_BASIC_ACK_METHOD) return false;
        auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        auto now = std::chrono::steady_clock::now();
        for (std::uint64_t t = ack->multiple ? confirmed + 1 : ack->delivery_tag; t <= ack->delivery_tag; ++t)
          ms.push_back(std::chrono::duration<double, std::milli>(now - sent[t]).count());
        confirmed = std::max(confirmed, ack->delivery_tag);
      }
    };
    auto start = std::chrono::steady_clock::now();
    for (int i = 1; i <= messages && !failed; ++i) {
      failed = !read_confirms(start + std::chrono::microseconds(1000000LL * (i - 1) / rate));
      sent[i] = std::chrono::steady_clock::now();
      failed = failed || amqp_basic_publish(conn, 1, amqp_cstring_bytes("amq.topic"), amqp_cstring_bytes(routing_key.c_str()), /*mandatory=*/1, 0, &props,
                                            amqp_bytes_t{body.size(), body.data()}) != AMQP_STATUS_OK;
    }
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!failed && confirmed < static_cast<std::uint64_t>(messages) && std::chrono::steady_clock::now() < give_up)
      failed = !read_confirms(std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
    if (!failed && ms.size() == static_cast<size_t>(messages)) {
      std::sort(ms.begin(), ms.end());
      result = {ms[ms.size() / 2], ms[ms.size() * 99 / 100]};
    }
    amqp_queue_delete(conn, 1, amqp_cstring_bytes(queue.c_str()), 0, 0);
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(conn);
  return result;
#else
  (void)url;
  (void)messages;
  (void)rate;
  return {};
#endif
}

namespace {

size_t append_to_string(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One SigV4-signed request of SQS's JSON protocol on a kept-alive handle; the answer's body, or
// nullopt on anything but 200.
std::optional<std::string> sqs_call(CURL* curl, const std::string& endpoint, const std::string& action, const std::string& body) {
  std::string answer;
  std::string target = "X-Amz-Target: AmazonSQS." + action;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-amz-json-1.0");
  headers = curl_slist_append(headers, target.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, endpoint.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  long status = 0;
  bool ok = curl_easy_perform(curl) == CURLE_OK && curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
            status == 200;
  curl_slist_free_all(headers);
  if (!ok) return std::nullopt;
  return answer;
}

}  // namespace

AckLatency sqs_send_alone(const std::string& endpoint, int messages, int rate) {
  CURL* curl = curl_easy_init();
  if (!curl) return {};
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:sqs");
  curl_easy_setopt(curl, CURLOPT_USERPWD, "bench:bench");
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  AckLatency result;
  std::string name = fmt::format("alone_{}", getpid());
  auto created = sqs_call(curl, endpoint, "CreateQueue", nlohmann::json{{"QueueName", name}}.dump());
  auto reply = created ? nlohmann::json::parse(*created, nullptr, false) : nlohmann::json();
  if (reply.is_object() && reply.contains("QueueUrl")) {
    std::string queue_url = reply["QueueUrl"].get<std::string>();
    std::string send = nlohmann::json{
        {"QueueUrl", queue_url},
        {"Entries", {{{"Id", "0"}, {"MessageBody", R"({"dedup_key":"outbox_t:1:0","stream_table":"t","op":"insert","payload":{"id":1}})"}}}}}
                           .dump();
    result = measure(messages, rate, [&] {
      auto answer = sqs_call(curl, endpoint, "SendMessageBatch", send);
      auto j = answer ? nlohmann::json::parse(*answer, nullptr, false) : nlohmann::json();
      return j.is_object() && j.contains("Successful") && j["Successful"].size() == 1;  // stored, not just answered
    });
    sqs_call(curl, endpoint, "DeleteQueue", nlohmann::json{{"QueueUrl", queue_url}}.dump());
  }
  curl_easy_cleanup(curl);
  return result;
}

}  // namespace bench
