// NATS JetStream sink: publishes a whole batch (Nats-Msg-Id = dedup key), each message with a reply
// subject of its own, then waits for every PubAck; a message is delivered only once JetStream
// acknowledged storing it.
#include <nats/nats.h>

#include <vector>

#include <fmt/format.h>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/build_context.h"
#include "backends/nats/nats_connection.h"
#include "backends/nats/nats_encode.h"

namespace relay::nats {
namespace {

// What a failed publish means for the message: the error classification table.
Outcome::Kind classify(natsStatus status, jsErrCode code) {
  switch (code) {
    case JSStreamMessageExceedsMaximumErr:  // larger than the stream's max_msg_size
      return Outcome::rejected;
    default:
      break;
  }
  switch (status) {
    case NATS_MAX_PAYLOAD:        // larger than the server's max_payload
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_ARG:
      return Outcome::rejected;
    default:  // timeouts, no responders (no stream yet), connection lost, buffer full, ...
      return Outcome::retriable;
  }
}

using nats::status_text;

class NatsSink final : public Sink {
 public:
  NatsSink(const PipelineConfig& config, const BuildContext& ctx) : ctx_(ctx), pipeline_(config.name) {
    const ConfigSection s = config.sink_section();
    subject_template_ = s.text("subject");
    stream_ = s.text("stream");
    create_stream_ = s.flag("create_stream");
    conn_settings_ = nats::Settings::from(s);
    conn_settings_.only_given_servers = ctx.host_access != nullptr;
  }

  ~NatsSink() override { close(); }

  Status start() override {
    close();
    auto conn = nats::connect(conn_settings_, "pgtrickle-relay " + pipeline_);
    if (!conn) return conn.error();
    conn_ = std::move(*conn);

    jsOptions jo;
    jsOptions_Init(&jo);
    jsCtx* js = nullptr;
    natsStatus s = natsConnection_JetStream(&js, conn_.get(), &jo);
    if (s != NATS_OK) return fatal(fmt::format("NATS: no JetStream context: {}", status_text(s)));
    js_.reset(js);
    // PubAcks come back to an inbox of this sink's own, each reply subject naming its message.
    natsInbox* inbox = nullptr;
    if ((s = natsInbox_Create(&inbox)) != NATS_OK) return retriable(fmt::format("NATS: no inbox: {}", status_text(s)));
    inbox_ = inbox;
    natsInbox_Destroy(inbox);
    natsSubscription* sub = nullptr;
    s = natsConnection_SubscribeSync(&sub, conn_.get(), (inbox_ + ".*").c_str());
    if (s != NATS_OK) return retriable(fmt::format("NATS: cannot subscribe to the PubAck inbox: {}", status_text(s)));
    replies_.reset(sub);
    natsSubscription_SetPendingLimits(sub, -1, -1);  // a batch's PubAcks are never dropped as a slow consumer
    return ensure_stream();
  }

  void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) override {
    if (!js_ || !healthy()) {
      for (auto& o : outcomes) o = {Outcome::retriable, "NATS: not connected to the server (reconnecting)"};
      return;
    }
    const std::uint32_t generation = ++generation_;  // replies to an earlier batch that gave up are skipped
    resolved_.assign(batch.size(), 0);
    auto resolve = [&](size_t i, Outcome o) {
      outcomes[i] = std::move(o);
      resolved_[i] = 1;
    };
    // Publish the whole batch (the library buffers it), then flush once.
    long awaited = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const Message& m = batch[i];
      const std::string& subject = m.routes[0];
      if (auto problem = nats::subject_problem(subject); !problem.empty()) {
        resolve(i, {Outcome::rejected, "NATS: " + problem});
        continue;
      }
      std::string reply = nats::reply_subject(inbox_, generation, i);
      natsMsg* msg = nullptr;
      natsStatus s = natsMsg_Create(&msg, subject.c_str(), reply.c_str(), m.body.data(), static_cast<int>(m.body.size()));
      for (const auto& [k, v] : nats::headers(m, id_buf_))
        if (s == NATS_OK) s = natsMsgHeader_Add(msg, k.data(), v.data());
      if (s == NATS_OK) s = natsConnection_PublishMsg(conn_.get(), msg);
      natsMsg_Destroy(msg);
      if (s == NATS_OK) {
        ++awaited;
        continue;
      }
      resolve(i, {classify(s, JSNoMessageFoundErr),
                  s == NATS_MAX_PAYLOAD ? fmt::format("NATS: message of {} bytes exceeds the server's max_payload", m.body.size())
                                        : "NATS: " + status_text(s)});
    }
    // Push the buffered publishes out now (the library would otherwise wait to fill its buffer).
    natsConnection_FlushTimeout(conn_.get(), std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));

    // Collect the PubAcks on this thread (no hand-over to another thread per message). A subject no
    // stream stores gets a "no responders" status instead, which does not say which message it
    // answers: those are the messages left without a PubAck once every reply came.
    long no_responders = 0;
    bool connected = true;
    while (awaited > 0 && connected) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      natsMsg* msg = nullptr;
      natsStatus s = natsSubscription_NextMsg(&msg, replies_.get(), std::min<int64_t>(left, 50));
      if (s == NATS_NO_RESPONDERS) {
        ++no_responders;
        --awaited;
        continue;
      }
      if (s != NATS_OK) {
        connected = natsConnection_Status(conn_.get()) == NATS_CONN_STATUS_CONNECTED;
        continue;
      }
      std::uint32_t g = 0;
      size_t i = 0;
      if (nats::parse_reply_subject(natsMsg_GetSubject(msg), g, i) && g == generation && i < batch.size() && !resolved_[i]) {
        auto ack = nats::parse_pub_ack(std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))));
        if (ack.stored) resolve(i, {Outcome::delivered, {}});
        else resolve(i, {classify(NATS_ERR, static_cast<jsErrCode>(ack.err_code)), "NATS: " + ack.error});
        --awaited;
      }
      natsMsg_Destroy(msg);
    }
    // Whatever has no outcome is sent again by the core; JetStream drops the copies it already
    // stored (same Nats-Msg-Id).
    for (size_t i = 0; i < batch.size(); ++i) {
      if (resolved_[i]) continue;
      if (awaited == 0 && no_responders > 0)
        outcomes[i] = {Outcome::retriable, fmt::format("NATS: no JetStream stream stores subject \"{}\" (create one, or set stream "
                                                       "and create_stream = true)", batch[i].routes[0])};
      else
        outcomes[i] = {Outcome::retriable, connected ? "NATS: no PubAck before the deadline" : "NATS: connection to the server lost"};
    }
  }

  bool healthy() override { return conn_ && natsConnection_Status(conn_.get()) == NATS_CONN_STATUS_CONNECTED; }

  // send() returns only once every PubAck came or it gave up: nothing is left in flight.
  void stop(Deadline) override { close(); }

 private:
  // Makes sure a stream stores the template's subjects (create_stream), so publishes get a PubAck.
  Status ensure_stream() {
    auto tmpl = Template::compile(subject_template_);
    if (!tmpl) return tmpl.error();
    std::string subjects = nats::stream_subject(subject_template_, tmpl->literal_prefix());
    std::string name = !stream_.empty() ? stream_ : nats::default_stream_name(subjects);
    jsErrCode code = static_cast<jsErrCode>(0);
    jsStreamInfo* info = nullptr;
    if (!name.empty()) {
      natsStatus s = js_GetStreamInfo(&info, js_.get(), name.c_str(), nullptr, &code);
      if (s == NATS_OK) {
        jsStreamInfo_Destroy(info);
        return {};
      }
      if (code != JSStreamNotFoundErr && s != NATS_NOT_FOUND)
        return retriable(fmt::format("NATS: cannot look up stream \"{}\": {}", name, status_text(s)));
    }
    if (!create_stream_) {
      if (!stream_.empty())
        return retriable(fmt::format("NATS: stream \"{}\" does not exist (create it, or set create_stream = true)", stream_));
      return {};
    }
    if (subjects.empty() || name.empty())
      return fatal(fmt::format("NATS: cannot derive the stream's subjects from subject \"{}\" (it starts with a variable); "
                               "create the stream yourself and set stream and create_stream = false", subject_template_));
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name.c_str();
    const char* subj[] = {subjects.c_str()};
    sc.Subjects = subj;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    natsStatus s = js_AddStream(&info, js_.get(), &sc, nullptr, &code);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(info);
      if (ctx_.log) ctx_.log->info("Created the JetStream stream.", {{"stream", name}, {"subjects", subjects}});
      return {};
    }
    if (code == JSStreamSubjectOverlapErr) return {};  // another stream already stores these subjects
    return retriable(fmt::format("NATS: cannot create stream \"{}\" for subjects \"{}\": {}", name, subjects, status_text(s)));
  }

  void close() {
    replies_.reset();
    js_.reset();
    conn_.reset();
  }

  struct SubscriptionDeleter {
    void operator()(natsSubscription* s) const {
      natsSubscription_Unsubscribe(s);
      natsSubscription_Destroy(s);
    }
  };

  BuildContext ctx_;
  std::string pipeline_, subject_template_, stream_;
  nats::Settings conn_settings_;
  bool create_stream_ = true;
  nats::ConnectionPtr conn_;
  nats::JsPtr js_;

  std::string inbox_;  // PubAcks come to "<inbox_>.<generation>-<index>"
  std::unique_ptr<natsSubscription, SubscriptionDeleter> replies_;
  std::uint32_t generation_ = 0;  // of the batch being sent
  std::vector<char> resolved_;    // per message of that batch: its outcome is final
  std::string id_buf_;            // a Nats-Msg-Id that had to be made header-safe
};

}  // namespace

Result<std::unique_ptr<Sink>> make_sink(const PipelineConfig& config, const BuildContext& ctx) {
  return std::unique_ptr<Sink>(std::make_unique<NatsSink>(config, ctx));
}

}  // namespace relay::nats
