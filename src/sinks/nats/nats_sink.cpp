// NATS JetStream sink: publishes a whole batch asynchronously (Nats-Msg-Id = dedup key), then
// waits for every PubAck; a message is delivered only once JetStream acknowledged storing it.
#include <nats/nats.h>

#include <condition_variable>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "config/pipeline_config.h"
#include "core/backend_factories.h"
#include "core/build_context.h"
#include "sinks/nats/nats_connection.h"
#include "sinks/nats/nats_encode.h"

namespace relay {
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

using nats_conn::status_text;

class NatsSink final : public Sink {
 public:
  NatsSink(const PipelineConfig& config, const BuildContext& ctx) : ctx_(ctx), pipeline_(config.name) {
    const auto& s = config.sink();
    subject_template_ = s.at("subject").get<std::string>();
    stream_ = s.value("stream", "");
    create_stream_ = s.value("create_stream", true);
    conn_settings_ = nats_conn::Settings::from(s);
  }

  ~NatsSink() override { close(); }

  Status start() override {
    close();
    auto conn = nats_conn::connect(conn_settings_, "pgtrickle-relay " + pipeline_);
    if (!conn) return conn.error();
    conn_ = std::move(*conn);

    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 8192;
    jo.PublishAsync.AckHandler = &NatsSink::on_ack;
    jo.PublishAsync.AckHandlerClosure = this;
    jsCtx* js = nullptr;
    natsStatus s = natsConnection_JetStream(&js, conn_.get(), &jo);
    if (s != NATS_OK) return fatal(fmt::format("NATS: no JetStream context: {}", status_text(s)));
    js_.reset(js);
    return ensure_stream();
  }

  void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) override {
    if (!js_ || !healthy()) {
      for (auto& o : outcomes) o = {Outcome::retriable, "NATS: not connected to the server (reconnecting)"};
      return;
    }
    {
      std::lock_guard lock(mu_);
      outcomes_ = outcomes;
      in_flight_.clear();
      waiting_ = 0;
    }
    // Build every message first, then register them all under one lock, then publish: the lock is
    // taken once per batch here (and once per PubAck by the library's thread).
    created_.assign(batch.size(), nullptr);
    size_t created = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const Message& m = batch[i];
      const std::string& subject = m.routes[0];
      if (auto problem = nats_wire::subject_problem(subject); !problem.empty()) {
        set_outcome(i, {Outcome::rejected, "NATS: " + problem});
        continue;
      }
      natsMsg* msg = nullptr;
      natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, m.body.data(), static_cast<int>(m.body.size()));
      for (const auto& [k, v] : nats_wire::headers(m))
        if (s == NATS_OK) s = natsMsgHeader_Add(msg, k.data(), v.data());
      if (s != NATS_OK) {
        natsMsg_Destroy(msg);
        set_outcome(i, {classify(s, JSNoMessageFoundErr), "NATS: " + status_text(s)});
        continue;
      }
      created_[i] = msg;
      ++created;
    }
    {
      std::lock_guard lock(mu_);
      in_flight_.reserve(created);
      for (size_t i = 0; i < batch.size(); ++i)
        if (created_[i]) in_flight_[created_[i]] = i;
      waiting_ = created;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    for (size_t i = 0; i < batch.size(); ++i) {
      natsMsg* handle = created_[i];
      if (!handle) continue;
      natsStatus s = js_PublishMsgAsync(js_.get(), &handle, &po);
      if (s != NATS_OK) {
        // Not taken by the library: no ack will come for it.
        std::lock_guard lock(mu_);
        if (in_flight_.erase(created_[i])) --waiting_;
        outcomes_[i] = {classify(s, JSNoMessageFoundErr),
                        s == NATS_MAX_PAYLOAD ? fmt::format("NATS: message of {} bytes exceeds the server's max_payload", batch[i].body.size())
                                              : "NATS: " + status_text(s)};
        natsMsg_Destroy(handle);
      }
    }
    // Push the buffered publishes out now (the library would otherwise wait to fill its buffer);
    // the PING round trip overlaps with the PubAcks coming back.
    natsConnection_FlushTimeout(conn_.get(), std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
    // Wait for every PubAck; give up early when the connection drops, so the outage shows at once.
    std::unique_lock lock(mu_);
    bool connected = true;
    while (waiting_ > 0 && Clock::now() < deadline && connected) {
      cv_.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)));
      connected = natsConnection_Status(conn_.get()) == NATS_CONN_STATUS_CONNECTED;
    }
    if (waiting_ > 0) {
      std::string why = connected ? "NATS: no PubAck before the deadline" : "NATS: connection to the server lost";
      for (auto& [msg, i] : in_flight_) outcomes_[i] = {Outcome::retriable, why};
      in_flight_.clear();  // late acks of these are ignored; the core sends them again (same Nats-Msg-Id)
      waiting_ = 0;
    }
    outcomes_ = {};
  }

  bool healthy() override { return conn_ && natsConnection_Status(conn_.get()) == NATS_CONN_STATUS_CONNECTED; }

  void stop(Deadline deadline) override {
    if (js_) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = std::max<int64_t>(1, ms);
      js_PublishAsyncComplete(js_.get(), &po);
    }
    close();
  }

 private:
  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<NatsSink*>(closure);
    {
      std::lock_guard lock(self->mu_);
      auto it = self->in_flight_.find(msg);
      if (it != self->in_flight_.end()) {
        Outcome o{Outcome::delivered, {}};
        if (!pa) {
          natsStatus err = pae ? pae->Err : NATS_ERR;
          jsErrCode code = pae ? pae->ErrCode : JSNoMessageFoundErr;
          std::string text = pae && pae->ErrText ? pae->ErrText : natsStatus_GetText(err);
          if (err == NATS_NO_RESPONDERS)
            text = fmt::format("no JetStream stream stores subject \"{}\" (create one, or set stream and create_stream = true)",
                               natsMsg_GetSubject(msg));
          o = {classify(err, code), "NATS: " + text};
        }
        self->outcomes_[it->second] = std::move(o);
        self->in_flight_.erase(it);
        if (--self->waiting_ == 0) self->cv_.notify_all();
      }
    }
    natsMsg_Destroy(msg);
  }

  void set_outcome(size_t i, Outcome o) {
    std::lock_guard lock(mu_);
    outcomes_[i] = std::move(o);
  }

  // Makes sure a stream stores the template's subjects (create_stream), so publishes get a PubAck.
  Status ensure_stream() {
    auto tmpl = Template::compile(subject_template_);
    if (!tmpl) return tmpl.error();
    std::string subjects = nats_wire::stream_subject(subject_template_, tmpl->literal_prefix());
    std::string name = !stream_.empty() ? stream_ : nats_wire::default_stream_name(subjects);
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
    js_.reset();
    conn_.reset();
  }

  BuildContext ctx_;
  std::string pipeline_, subject_template_, stream_;
  nats_conn::Settings conn_settings_;
  bool create_stream_ = true;
  nats_conn::ConnectionPtr conn_;
  nats_conn::JsPtr js_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::span<Outcome> outcomes_;                     // of the batch being sent
  std::unordered_map<natsMsg*, size_t> in_flight_;  // published, PubAck awaited → index in the batch
  std::vector<natsMsg*> created_;                   // the batch's messages before publishing (send's thread only)
  size_t waiting_ = 0;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_nats_sink(const PipelineConfig& config, const BuildContext& ctx) {
  return std::unique_ptr<Sink>(std::make_unique<NatsSink>(config, ctx));
}

}  // namespace relay
