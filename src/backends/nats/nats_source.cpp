// NATS JetStream source: a durable pull consumer (created when missing, explicit ack). A thread
// fetches batches (natsSubscription_Fetch) and decodes them one batch ahead of the pipeline; each
// message is acked only in ack(), after the inbox commit. Messages fetched but not acked are
// nak'ed when the source stops (or the batch is dropped), so the server redelivers them at once
// instead of after ack_wait.
#include <nats/nats.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/batch_queue.h"
#include "core/build_context.h"
#include "backends/nats/nats_connection.h"
#include "backends/nats/nats_decode.h"

namespace relay::nats {
namespace {

using nats::status_text;

// Longest a single fetch waits inside wait(), so a stop request is seen quickly.
constexpr std::int64_t kWaitSliceMs = 250;
// Bound on a no-wait fetch (one round trip to the server).
constexpr std::int64_t kNoWaitExpiresMs = 2000;

// The connection and subscription, kept alive by every batch still holding messages of it.
struct Session {
  nats::ConnectionPtr conn;
  nats::JsPtr js;
  natsSubscription* sub = nullptr;

  bool connected() const { return conn && natsConnection_Status(conn.get()) == NATS_CONN_STATUS_CONNECTED; }

  ~Session() {
    // Acks and naks are buffered publishes: push them out before closing.
    if (connected()) natsConnection_FlushTimeout(conn.get(), 1000);
    // Only frees the client side: the durable consumer stays on the server.
    if (sub) natsSubscription_Destroy(sub);
    js.reset();
    conn.reset();
  }
};

// A batch's messages, owned until acked; dropped without ack, they are nak'ed.
struct Delivered {
  std::shared_ptr<Session> session;
  std::vector<natsMsg*> msgs;
  bool acked = false;

  ~Delivered() {
    for (natsMsg* m : msgs) {
      if (!acked && session->connected()) natsMsg_Nak(m, nullptr);
      natsMsg_Destroy(m);
    }
  }
};

bool is_valid_name(std::string_view name) {
  return !name.empty() && name.find_first_of(". *>\t\r\n") == std::string_view::npos;
}

std::vector<Header> headers_of(natsMsg* msg) {
  std::vector<Header> out;
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) != NATS_OK || !keys) return out;
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const char** values = nullptr;
    int n = 0;
    std::string joined;
    if (natsMsgHeader_Values(msg, keys[i], &values, &n) == NATS_OK && values) {
      for (int j = 0; j < n; ++j) {
        if (j) joined += ',';
        joined += values[j];
      }
      free(values);
    }
    out.emplace_back(keys[i], std::move(joined));
  }
  free(keys);
  return out;
}

class NatsSource final : public Source {
 public:
  NatsSource(const PipelineConfig& config, const BuildContext& ctx) : ctx_(ctx), pipeline_(config.name) {
    const ConfigSection s = config.source_section();
    settings_ = nats::Settings::from(s);
    settings_.only_given_servers = ctx.host_access != nullptr;
    stream_ = s.text("stream");
    consumer_ = s.text("consumer");
    filter_subject_ = s.text("filter_subject");
    ack_wait_ms_ = s.integer("ack_wait_ms");
    max_deliver_ = s.integer("max_deliver");
    batch_size_ = std::max(1, config.batch_size);
  }

  ~NatsSource() override { stop(); }

  Status start() override {
    stop();
    auto conn = nats::connect(settings_, "pgtrickle-relay " + pipeline_);
    if (!conn) return conn.error();
    auto session = std::make_shared<Session>();
    session->conn = std::move(*conn);
    jsCtx* js = nullptr;
    natsStatus s = natsConnection_JetStream(&js, session->conn.get(), nullptr);
    if (s != NATS_OK) return fatal(fmt::format("NATS: no JetStream context: {}", status_text(s)));
    session->js.reset(js);
    if (auto st = ensure_consumer(session->js.get()); !st) return st;

    // Bound to the durable consumer: no subject needed, nothing created or deleted by subscribing.
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream_.c_str();
    so.Consumer = consumer_.c_str();
    jsErrCode code = static_cast<jsErrCode>(0);
    s = js_PullSubscribe(&session->sub, session->js.get(), "", consumer_.c_str(), nullptr, &so, &code);
    if (s != NATS_OK)
      return retriable(fmt::format("NATS: cannot subscribe to consumer \"{}\" of stream \"{}\": {}", consumer_, stream_, status_text(s)));
    session_ = std::move(session);
    queue_.reopen();
    thread_ = std::thread([this] { fetch_loop(); });
    ctx_.log->info("Consuming from JetStream.", {{"stream", stream_}, {"consumer", consumer_}});
    return {};
  }

  Result<Batch> poll(Deadline) override {
    if (!session_) return retriable("NATS: the source is not started");
    auto b = queue_.take();
    if (!b || !b->empty()) return b;
    if (!session_->connected()) return retriable("NATS: connection to the server lost (reconnecting)");
    return Batch{};
  }

  void wait(Deadline deadline) override {
    if (session_) queue_.wait(deadline, ctx_.wake_fd);
  }

  Status ack(const Batch& batch) override {
    auto* d = static_cast<Delivered*>(batch.token.get());
    if (!d) return {};
    size_t failed = 0;
    natsStatus first = NATS_OK;
    for (natsMsg* m : d->msgs) {
      // Asynchronous: the ack is a publish to the message's reply subject.
      natsStatus s = natsMsg_Ack(m, nullptr);
      if (s != NATS_OK && failed++ == 0) first = s;
    }
    d->acked = true;
    if (failed)
      return retriable(fmt::format("NATS: cannot acknowledge {} of {} messages: {}; the server delivers them again after "
                                   "ack_wait ({} ms) and the inbox skips the duplicates",
                                   failed, d->msgs.size(), status_text(first), ack_wait_ms_));
    return {};
  }

  SourceStatus status() override {
    SourceStatus s;
    lag(s.lag_rows, s.lag_seconds);
    return s;
  }

  void lag(std::int64_t& rows, double& seconds) {
    auto queued = static_cast<std::int64_t>(queue_.queued_messages());
    rows = static_cast<std::int64_t>(server_pending_.load()) + queued;
    seconds = -1;
    std::int64_t last = last_timestamp_ns_.load();
    if (rows == 0) {
      seconds = 0;
    } else if (last > 0) {
      // Everything still waiting was stored after the last message fetched: at most this old.
      auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
      seconds = std::max(0.0, static_cast<double>(now_ns - last) / 1e9);
    }
  }

  void stop() override {
    queue_.close();  // fetched, never handed out: nak'ed (Delivered's destructor)
    if (thread_.joinable()) thread_.join();
    session_.reset();
  }

 private:
  // The fetching thread: keeps one batch ready ahead of the pipeline, so fetching and decoding
  // overlap the inbox commit of the batch before.
  void fetch_loop() {
    std::shared_ptr<Session> session = session_;
    while (true) {
      if (!queue_.wait_for_room()) return;
      std::vector<natsMsg*> msgs;
      // What the server has now, without waiting; when nothing, wait (a slice at a time, to see
      // stop) for the first message, then take what else is there.
      Status st = fetch(*session, batch_size_, /*wait_ms=*/0, msgs);
      if (st && msgs.empty()) {
        st = fetch(*session, 1, kWaitSliceMs, msgs);
        if (st && !msgs.empty() && batch_size_ > 1) st = fetch(*session, batch_size_ - 1, 0, msgs);
      }
      if (!msgs.empty()) {
        auto token = std::make_shared<Delivered>();
        token->session = session;
        token->msgs = std::move(msgs);
        Batch batch;
        batch.messages.reserve(token->msgs.size());
        for (natsMsg* m : token->msgs) batch.messages.push_back(to_message(m));
        batch.token = std::move(token);
        queue_.push(std::move(batch));
      }
      if (!st) {
        queue_.fail(st.error());
        // Not a busy loop while the library reconnects or the consumer is recreated.
        if (!queue_.pause(std::chrono::milliseconds(kWaitSliceMs))) return;
      }
    }
  }

  // One fetch of up to `max` messages: without waiting (wait_ms 0: what the server has now) or
  // waiting up to wait_ms for them. Appends to `out`; err only for a failure worth reporting.
  Status fetch(Session& session, int max, std::int64_t wait_ms, std::vector<natsMsg*>& out) {
    natsMsgList list{};
    natsStatus s;
    if (wait_ms > 0) {
      s = natsSubscription_Fetch(&list, session.sub, max, wait_ms, nullptr);
    } else {
      jsFetchRequest req;
      jsFetchRequest_Init(&req);
      req.Batch = max;
      req.NoWait = true;
      req.Expires = kNoWaitExpiresMs * 1000000LL;
      s = natsSubscription_FetchRequest(&list, session.sub, &req);
    }
    if (s == NATS_OK) {
      for (int i = 0; i < list.Count; ++i) {
        out.push_back(list.Msgs[i]);
        list.Msgs[i] = nullptr;
      }
      natsMsgList_Destroy(&list);
      return {};
    }
    natsMsgList_Destroy(&list);
    if (s == NATS_NOT_FOUND || s == NATS_TIMEOUT) {  // nothing there now
      if (out.empty()) server_pending_ = 0;
      return {};
    }
    if (!session.connected())
      return retriable("NATS: connection to the server lost (reconnecting)");
    std::string text = status_text(s);
    // The server holds back deliveries while max_ack_pending messages await their ack (e.g. left
    // un-acked by a relay that died): they come back after ack_wait; nothing is wrong here.
    if (text.find("MaxAckPending") != std::string::npos || text.find("Exceeded MaxWaiting") != std::string::npos) return {};
    return retriable(fmt::format("NATS: fetching from consumer \"{}\" of stream \"{}\" failed: {}", consumer_, stream_, text));
  }

  Message to_message(natsMsg* msg) {
    const char* reply = natsMsg_GetReply(msg);
    nats::Delivery d;
    if (auto parsed = nats::parse_ack_subject(reply ? reply : "")) d = *parsed;
    server_pending_ = d.pending;
    if (d.timestamp_ns > 0) last_timestamp_ns_ = d.timestamp_ns;
    const char* data = natsMsg_GetData(msg);
    std::string_view body(data ? data : "", static_cast<size_t>(natsMsg_GetDataLength(msg)));
    return nats::to_message(stream_, natsMsg_GetSubject(msg), body, headers_of(msg), d);
  }

  // Looks the durable consumer up; creates it when missing. An existing consumer is used as it is,
  // unless it cannot work for the relay (push, no acks, another filter).
  Status ensure_consumer(jsCtx* js) {
    jsConsumerInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&info, js, stream_.c_str(), consumer_.c_str(), nullptr, &code);
    if (s == NATS_OK) {
      std::unique_ptr<jsConsumerInfo, decltype(&jsConsumerInfo_Destroy)> guard(info, &jsConsumerInfo_Destroy);
      note_backlog(*info);
      return check_existing(*info->Config);
    }
    if (code == JSStreamNotFoundErr)
      return retriable(fmt::format("NATS: stream \"{}\" does not exist; create it (e.g. nats stream add {} --subjects '<subjects>') "
                                   "or let a publisher create it", stream_, stream_));
    if (code == JSNotEnabledErr || code == JSNotEnabledForAccountErr || s == NATS_NO_RESPONDERS)
      return retriable("NATS: JetStream is not enabled on the server (start nats-server with -js)");
    if (code != JSConsumerNotFoundErr && s != NATS_NOT_FOUND)
      return retriable(fmt::format("NATS: cannot look up consumer \"{}\" of stream \"{}\": {}", consumer_, stream_, status_text(s)));

    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = consumer_.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckWait = ack_wait_ms_ * 1000000LL;
    cc.MaxDeliver = max_deliver_ > 0 ? max_deliver_ : -1;
    if (!filter_subject_.empty()) cc.FilterSubject = filter_subject_.c_str();
    // Room for a few batches awaiting their ack (the server's default is 1,000).
    cc.MaxAckPending = std::max<std::int64_t>(1000, 4LL * batch_size_);
    s = js_AddConsumer(&info, js, stream_.c_str(), &cc, nullptr, &code);
    if (s == NATS_OK) {
      note_backlog(*info);
      jsConsumerInfo_Destroy(info);
      ctx_.log->info("Created the JetStream consumer.", {{"stream", stream_}, {"consumer", consumer_},
                                                         {"filter_subject", filter_subject_}});
      return {};
    }
    if (code == JSConsumerNameExistErr || code == JSConsumerExistingActiveErr) return {};  // created meanwhile by another relay
    if (code == JSStreamNotFoundErr)
      return retriable(fmt::format("NATS: stream \"{}\" does not exist; create it or let a publisher create it", stream_));
    return fatal(fmt::format("NATS: cannot create consumer \"{}\" on stream \"{}\": {}", consumer_, stream_, status_text(s)));
  }

  // What waits before the first fetch: not yet delivered, and delivered but never acked.
  void note_backlog(const jsConsumerInfo& info) {
    server_pending_ = info.NumPending + static_cast<std::uint64_t>(std::max<std::int64_t>(0, info.NumAckPending));
  }

  Status check_existing(const jsConsumerConfig& c) {
    if (c.DeliverSubject && *c.DeliverSubject)
      return fatal(fmt::format("NATS: consumer \"{}\" of stream \"{}\" is a push consumer; the relay needs a pull consumer: "
                               "name another consumer, or delete this one and the relay creates it", consumer_, stream_));
    if (c.AckPolicy == js_AckNone)
      return fatal(fmt::format("NATS: consumer \"{}\" of stream \"{}\" has ack policy none, so a crash would lose messages; "
                               "the relay needs explicit acks: name another consumer, or delete this one and the relay creates it",
                               consumer_, stream_));
    std::string existing = c.FilterSubject ? c.FilterSubject : "";
    if (!filter_subject_.empty() && existing != filter_subject_)
      return fatal(fmt::format("NATS: consumer \"{}\" of stream \"{}\" filters \"{}\" but source.filter_subject is \"{}\": "
                               "set filter_subject to \"{}\", name another consumer, or delete this one and the relay creates it",
                               consumer_, stream_, existing.empty() ? "(everything)" : existing, filter_subject_, existing));
    return {};
  }

  BuildContext ctx_;
  std::string pipeline_;
  nats::Settings settings_;
  std::string stream_, consumer_, filter_subject_;
  std::int64_t ack_wait_ms_ = 30000, max_deliver_ = -1;
  int batch_size_ = 1000;

  std::shared_ptr<Session> session_;
  std::thread thread_;
  BatchQueue queue_;  // fetched and decoded, not yet handed out by poll()
  std::atomic<std::uint64_t> server_pending_{0};
  std::atomic<std::int64_t> last_timestamp_ns_{0};
};

}  // namespace

Result<std::unique_ptr<Source>> make_source(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection s = config.source_section();
  for (const char* key : {"stream", "consumer"}) {
    std::string v = s.text(key);
    if (!is_valid_name(v))
      return fatal(fmt::format("source.{}: \"{}\" is not a valid JetStream name; expected letters, digits, '-' or '_' "
                               "(no '.', '*', '>' or spaces)", key, v));
  }
  long long max_deliver = s.integer("max_deliver");  // the spec keeps it at -1 or above
  if (max_deliver == 0)
    return fatal(fmt::format("source.max_deliver: {} is not allowed; expected -1 (unlimited) or a positive number of deliveries", max_deliver));
  return std::unique_ptr<Source>(std::make_unique<NatsSource>(config, ctx));
}

}  // namespace relay::nats
