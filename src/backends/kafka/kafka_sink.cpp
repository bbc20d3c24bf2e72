// Kafka sink: an idempotent librdkafka producer. Batches are pipelined: publish() produces a
// batch's records and returns, while earlier batches wait for their delivery reports; collect()
// waits for the oldest batch's reports, each of which becomes that message's outcome. send() is
// the two at once; send_transaction() one Kafka transaction (exactly once).
#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <utility>
#include <unordered_map>
#include <vector>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/build_context.h"
#include "relay/sink.h"
#include "backends/kafka/kafka_avro.h"
#include "backends/kafka/kafka_client.h"
#include "backends/kafka/kafka_config.h"
#include "backends/kafka/kafka_encode.h"
#include "backends/kafka/kafka_errors.h"
#include "backends/kafka/kafka_positions.h"
#include "util/crash_point.h"

namespace relay::kafka {
namespace {

class KafkaSink final : public Sink {
 public:
  KafkaSink(const BuildContext& ctx, std::vector<kafka::Property> props, kafka::KeyRule key, std::unique_ptr<AvroRecords> avro,
            std::unique_ptr<PositionLog> positions)
      : ctx_(ctx), props_(std::move(props)), key_rule_(std::move(key)), avro_(std::move(avro)), positions_(std::move(positions)) {}

  ~KafkaSink() override { stop(Clock::now()); }

  const log::Logger& log() const { return *ctx_.log; }  // librdkafka's log lines (log_to_owner)

  Status start() override {
    if (producer_ && !fatal_) return {};
    destroy_producer(Clock::now());
    auto producer = make_client(RD_KAFKA_PRODUCER, props_, {"kafka sink", this, [](rd_kafka_conf_t* conf) {
                                  rd_kafka_conf_set_dr_msg_cb(conf, &KafkaSink::on_delivery);
                                  rd_kafka_conf_set_error_cb(conf, &KafkaSink::on_error);
                                  rd_kafka_conf_set_log_cb(conf, &log_to_owner<KafkaSink>);
                                }});
    if (!producer) return producer.error();
    producer_ = std::move(*producer);
    fatal_ = false;
    fatal_said_ = false;
    reachable_ = true;
    if (positions_) {
      if (auto s = start_transactions(); !s) {
        destroy_producer(Clock::now());
        return s;
      }
    }
    return {};
  }

  void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) override {
    publish(batch, deadline);
    Published& p = published_.back();
    // While the brokers cannot be reached, a pipeline asked to stop (a config change, a takeover)
    // does not wait for the deadline: the batch is sent again, by whoever runs the pipeline next.
    while (p.pending > 0 && Clock::now() < deadline) {
      flush_slice(deadline);
      if (p.pending > 0 && (!reachable_ || !connection_problem_.empty()) && asked_to_stop()) break;
    }
    if (p.pending > 0) drop_unsent();
    auto outs = close(p);
    std::move(outs.begin(), outs.end(), outcomes.begin());
  }

  // Two batches wait for their delivery reports at once: the next is produced meanwhile. More buys
  // nothing measurable (the drain is bound by the CPU the broker and PostgreSQL share with the relay)
  // and holds more messages twice (here and in librdkafka's queue).
  size_t batches_in_flight() const override { return kBatchesInFlight; }

  void publish(std::span<const Message> batch) override { publish(batch, Clock::now() + std::chrono::seconds(30)); }

  bool collect(std::span<Outcome> outcomes, Deadline deadline, std::span<const int> wake_fds) override {
    if (published_.empty()) {
      for (auto& o : outcomes) o = {Outcome::retriable, "the batch was not produced"};
      return true;
    }
    Published& oldest = published_.front();
    // The records are all produced: nothing is gained waiting linger.ms for more, so each wait
    // flushes (and serves the reports); it ends early when new rows or a stop wake the pipeline.
    while (oldest.pending > 0) {
      if (Clock::now() >= deadline || woken(wake_fds)) return false;
      flush_slice(std::min(deadline, Clock::now() + std::chrono::milliseconds(5)));
    }
    auto outs = close(oldest);
    if (outs.size() != outcomes.size()) {  // never: batches are collected in the order published
      for (auto& o : outcomes) o = {Outcome::retriable, "the batch's reports were lost"};
      return true;
    }
    std::move(outs.begin(), outs.end(), outcomes.begin());
    return true;
  }

  // Their reports may still come, and are ignored; what has not left yet is dropped, so that it
  // cannot arrive after the batches are sent again.
  void forget() override {
    while (!published_.empty()) close(published_.front());
    if (producer_) drop_unsent();
  }

  std::string committed_position() override { return committed_; }

  // One Kafka transaction: the records, then the position as the group's offset metadata, then the
  // commit, which flushes the records and serves their delivery reports.
  void send_transaction(std::span<const Message> batch, const std::vector<bool>& skip, std::string_view position,
                        std::span<Outcome> outcomes, Deadline deadline) override {
    // A new transactional producer fences the pipeline's earlier ones: the pipeline starts it
    // (start()), once it checked it still owns the pipeline, never this call on its own.
    if (!producer_ || fatal_) {
      for (size_t i = 0; i < outcomes.size(); ++i)
        if (!skip[i]) outcomes[i] = {Outcome::retriable, "the Kafka producer stopped; a new one starts after the backoff"};
      return;
    }
    rd_kafka_t* p = producer_.get();
    if (auto e = transaction_error(rd_kafka_begin_transaction(p)); !e.empty()) {
      for (size_t i = 0; i < outcomes.size(); ++i)
        if (!skip[i]) outcomes[i] = {Outcome::retriable, "cannot begin a Kafka transaction: " + e};
      return;
    }
    Published& batch_state = track(batch.size());
    for (size_t i = 0; i < outcomes.size(); ++i)
      if (skip[i]) batch_state.outcomes[i] = outcomes[i];
    std::string failure;
    if (!produce_batch(batch, &skip, batch_state, deadline)) {
      failure = "a record of the transaction could not be produced";
    } else if (any_rejected(batch_state.outcomes, skip)) {
      // Its dead letter is stored before a transaction without it commits.
      failure = "a message of the batch cannot be delivered and is set aside; the others go again without it";
    } else if (auto e = transaction_error(positions_->add_to_transaction(p, position, deadline)); !e.empty()) {
      failure = "the pipeline's position could not join the transaction: " + e;
    } else {
      // The fault tests' points count transactions that carry records.
      const bool records = std::count(skip.begin(), skip.end(), false) > 0;
      if (records) crash_point("kafka_before_commit");
      while (true) {
        rd_kafka_error_t* err = rd_kafka_commit_transaction(p, std::max(1, ms_until(deadline)));
        if (!err) break;
        const bool again = rd_kafka_error_is_retriable(err) && Clock::now() < deadline;
        failure = "the Kafka transaction did not commit: " + transaction_error(err);
        if (!again) break;
        failure.clear();
      }
      if (failure.empty()) {
        if (records) crash_point("kafka_after_commit");
        committed_ = position;
        auto outs = close(batch_state);
        std::move(outs.begin(), outs.end(), outcomes.begin());
        return;
      }
    }
    // Reports still to come belong to the aborted transaction: it is closed first.
    auto outs = close(batch_state);
    if (!fatal_) {
      if (auto e = transaction_error(rd_kafka_abort_transaction(p, std::max(1000, ms_until(deadline)))); !e.empty()) {
        // Not aborted either: a new producer settles it (its init_transactions aborts or completes
        // it), and the position it then reads says whether this batch committed.
        fatal_ = true;
        failure += "; and could not be aborted: " + e;
      }
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      if (skip[i] || outs[i].kind == Outcome::rejected) continue;
      if (outs[i].kind == Outcome::retriable && outs[i].error != kNoReport) continue;  // its own failure
      outs[i] = {Outcome::retriable, failure};
    }
    std::move(outs.begin(), outs.end(), outcomes.begin());
  }

  bool healthy() override { return producer_ && !fatal_ && reachable_; }

  void stop(Deadline deadline) override {
    destroy_producer(deadline);
  }

 private:
  // Whether the pipeline was asked to stop waiting (its wake fd is readable; the core reads it).
  bool asked_to_stop() const { return ctx_.wake_fd >= 0 && woken(std::span<const int>(&ctx_.wake_fd, 1)); }

  // Exactly once: init_transactions fences any earlier producer of the pipeline's transactional id
  // (a former owner, this relay before a crash) and settles the transaction it left open; only then
  // is the position committed last read, so that it is final.
  Status start_transactions() {
    const Deadline deadline = Clock::now() + std::chrono::seconds(30);
    if (auto e = transaction_error(rd_kafka_init_transactions(producer_.get(), ms_until(deadline))); !e.empty())
      return retriable(fmt::format("the transactional producer cannot start (transactional.id {}): {}", transactional_id(), e));
    if (auto s = positions_->ensure_topic(producer_.get(), deadline); !s) return s;
    auto committed = positions_->read(deadline);
    if (!committed) return committed.error();
    committed_ = std::move(*committed);
    return {};
  }

  std::string transactional_id() const {
    for (const auto& p : props_)
      if (p.name == "transactional.id") return p.value;
    return {};
  }

  static constexpr size_t kBatchesInFlight = 2;

  // A batch produced and not reported on yet, reached from the delivery callback (served on this
  // thread by rd_kafka_poll and rd_kafka_flush) by the serial each of its records carries.
  struct Published {
    uint32_t serial = 0;
    std::vector<Outcome> outcomes;
    std::vector<std::uint8_t> records_left;  // per message: its records not yet reported (2 with a tombstone)
    std::vector<bool> failed;                // per message: a record of it failed
    size_t pending = 0;                      // its records not yet reported
  };

  // Produces `batch` as a new batch in flight (its outcomes all retriable when no producer starts).
  void publish(std::span<const Message> batch, Deadline deadline) {
    if (!producer_ || fatal_) {
      // Batches still in flight are reported first (they fail too, and the core sends them all
      // again); a new producer starts only then.
      if (!published_.empty()) {
        for (auto& o : track(batch.size()).outcomes) o = {Outcome::retriable, "the Kafka producer stopped; a new one starts after the backoff"};
        return;
      }
      if (auto s = start(); !s) {
        Published& p = track(batch.size());
        for (auto& o : p.outcomes) o = {Outcome::retriable, s.error().message};
        return;
      }
    }
    produce_batch(batch, nullptr, track(batch.size()), deadline);
    rd_kafka_poll(producer_.get(), 0);
  }

  // Sends what is queued at once (ignoring linger.ms) and serves the delivery reports, until
  // everything produced was reported or `until`.
  void flush_slice(Deadline until) {
    rd_kafka_flush(producer_.get(), std::min(ms_until(until), 100));
  }

  // Drops what has not left yet, so that it cannot arrive after the retry of an earlier record.
  void drop_unsent() {
    rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE);
    rd_kafka_poll(producer_.get(), 0);
  }

  // Whether the pipeline has something else to do (new rows, a stop).
  static bool woken(std::span<const int> wake_fds) {
    pollfd fds[4];
    size_t n = 0;
    for (int fd : wake_fds)
      if (n < 4) fds[n++] = {fd, POLLIN, 0};
    return n > 0 && ::poll(fds, n, 0) > 0;
  }

  static bool any_rejected(std::span<const Outcome> outcomes, const std::vector<bool>& skip) {
    for (size_t i = 0; i < outcomes.size(); ++i)
      if (!skip[i] && outcomes[i].kind == Outcome::rejected) return true;
    return false;
  }

  static constexpr const char* kNoReport = "no delivery report before the deadline";

  // A new batch in flight, whose delivery reports fill its outcomes.
  Published& track(size_t messages) {
    Published& p = published_.emplace_back();
    p.serial = ++serial_;
    p.outcomes.assign(messages, Outcome{});
    p.records_left.assign(messages, 0);
    p.failed.assign(messages, false);
    return p;
  }

  Published* find(uint32_t serial) {
    for (auto& p : published_)
      if (p.serial == serial) return &p;
    return nullptr;
  }

  // Ends a batch and returns its outcomes: its later reports are ignored; timeouts caused by a
  // refused login or a failed handshake say so.
  std::vector<Outcome> close(Published& p) {
    std::vector<Outcome> outcomes = std::move(p.outcomes);
    const uint32_t serial = p.serial;
    for (auto it = published_.begin(); it != published_.end(); ++it)
      if (it->serial == serial) {
        published_.erase(it);
        break;
      }
    if (!connection_problem_.empty())
      for (auto& o : outcomes)
        if (o.kind == Outcome::retriable) o.error = connection_problem_;
    if (fatal_ && producer_ && !fatal_said_) {
      fatal_said_ = true;
      char reason[512] = "";
      rd_kafka_resp_err_t err = rd_kafka_fatal_error(producer_.get(), reason, sizeof reason);
      ctx_.log->error("The Kafka producer hit a fatal error; a new producer will be created.",
                      {{"error", fmt::format("{}: {}", rd_kafka_err2name(err), reason)}});
    }
    return outcomes;
  }

  // Produces the messages of `batch` not in `skip`, in order: each outcome waits for its delivery
  // report, but a message refused at once is rejected (and the others go on) or retriable (and
  // nothing after it is produced, so that nothing overtakes it: false).
  bool produce_batch(std::span<const Message> batch, const std::vector<bool>* skip, Published& p, Deadline deadline) {
    std::vector<Outcome>& outcomes = p.outcomes;
    for (size_t i = 0; i < batch.size(); ++i)
      if (!skip || !(*skip)[i]) outcomes[i] = {Outcome::retriable, kNoReport};
    for (size_t i = 0; i < batch.size(); ++i) {
      if (skip && (*skip)[i]) continue;
      rd_kafka_resp_err_t err = produce(batch[i], p, i, deadline, false);
      // A delete's tombstone follows its record; the message is delivered when both are.
      if (!err && batch[i].tombstone) err = produce(batch[i], p, i, deadline, true);
      if (!err) continue;
      p.failed[i] = true;  // a report of its record, when one was produced, cannot say delivered
      if (conversion_failed_) {
        // The registry refused or could not be reached: nothing after this message overtakes it.
        conversion_failed_ = false;
        if (conversion_failure_.kind == Outcome::rejected) {
          outcomes[i] = std::move(conversion_failure_);
          continue;
        }
        for (size_t j = i + 1; j < batch.size(); ++j)
          if (!skip || !(*skip)[j]) outcomes[j] = {Outcome::retriable, conversion_failure_.error};
        outcomes[i] = std::move(conversion_failure_);
        return false;
      }
      auto verdict = kafka::classify(err);
      std::string text = fmt::format("{}: {}", rd_kafka_err2name(err), error_detail(err, batch[i]));
      if (verdict == kafka::Verdict::rejected) {
        outcomes[i] = {Outcome::rejected, std::move(text)};
        continue;
      }
      if (verdict == kafka::Verdict::recreate) fatal_ = true;
      for (size_t j = i; j < batch.size(); ++j)
        if (!skip || !(*skip)[j]) outcomes[j] = {Outcome::retriable, text};
      return false;
    }
    return true;
  }

  // A transactional call's error as text ("" for none); a fatal one (fenced by a newer producer of
  // the same transactional id) makes the next send create a new producer.
  std::string transaction_error(rd_kafka_error_t* err) {
    if (!err) return {};
    std::string text = fmt::format("{}: {}", rd_kafka_error_name(err), rd_kafka_error_string(err));
    if (rd_kafka_error_is_fatal(err)) fatal_ = true;
    rd_kafka_error_destroy(err);
    return text;
  }

  // Produces the record of `m`, or its tombstone (its key, a null value).
  rd_kafka_resp_err_t produce(const Message& m, Published& p, size_t index, Deadline deadline, bool tombstone) {
    kafka::encode(m, key_rule_, key_buf_, record_);
    if (tombstone) {  // the format's headers (a key change's __debezium.newkey) go with it, as Debezium sends them
      record_.value = {};
      record_.headers.clear();
      for (const auto& [k, v] : m.headers) record_.headers.emplace_back(k, v);
    }
    if (avro_ && !avro_->convert(record_.topic, record_.key, record_.value, conversion_failure_)) {
      conversion_failed_ = true;
      return RD_KAFKA_RESP_ERR__INVALID_ARG;
    }
    if (auto problem = kafka::topic_problem(record_.topic); !problem.empty()) {
      topic_error_ = std::move(problem);
      return RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
    }
    rd_kafka_topic_t* rkt = topic(m.routes[0]);
    HeadersPtr headers(rd_kafka_headers_new(record_.headers.size()));
    for (const auto& [k, v] : record_.headers)
      rd_kafka_header_add(headers.get(), k.data(), static_cast<ssize_t>(k.size()), v.data(), static_cast<ssize_t>(v.size()));
    // The batch's serial and the index in it: the delivery report finds its outcome by them.
    void* tag = reinterpret_cast<void*>((static_cast<uintptr_t>(p.serial) << 32) | index);
    while (true) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(tombstone ? nullptr : const_cast<char*>(record_.value.data()), record_.value.size()),
          RD_KAFKA_V_KEY(record_.key.empty() ? nullptr : record_.key.data(), record_.key.size()),
          RD_KAFKA_V_HEADERS(headers.get()), RD_KAFKA_V_OPAQUE(tag), RD_KAFKA_V_END);
      if (!err) {
        headers.release();  // owned by the record now
        ++p.pending;
        ++p.records_left[index];
        return err;
      }
      // The local queue is full: let librdkafka send and report, then try again.
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && Clock::now() < deadline) {
        rd_kafka_poll(producer_.get(), 10);
        continue;
      }
      return err;
    }
  }

  std::string error_detail(rd_kafka_resp_err_t err, const Message& m) {
    if (err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION && !topic_error_.empty()) return std::exchange(topic_error_, {});
    if (err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      return unknown_topic(record_.topic, err);
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
      return fmt::format("the record of {} bytes is larger than message.max.bytes (set rdkafka.message.max.bytes "
                         "and the topic's max.message.bytes to allow it)", m.body.size());
    return rd_kafka_err2str(err);
  }

  // One topic handle per topic name, kept for the producer's life (a bounded set: templates
  // rendering to thousands of topics get their cache cleared).
  rd_kafka_topic_t* topic(const std::string& name) {
    auto it = topics_.find(name);
    if (it != topics_.end()) return it->second.get();
    if (topics_.size() >= 1024) topics_.clear();
    TopicPtr t(rd_kafka_topic_new(producer_.get(), name.c_str(), nullptr));
    return topics_.emplace(name, std::move(t)).first->second.get();
  }

  void destroy_producer(Deadline deadline) {
    if (!producer_) return;
    published_.clear();  // their reports are not served any more
    // What is still queued was not acknowledged to the source, so dropping it loses nothing.
    if (!fatal_) rd_kafka_flush(producer_.get(), ms_until(deadline));
    rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(producer_.get(), 0);
    topics_.clear();
    producer_.reset();
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) noexcept {
    auto* self = static_cast<KafkaSink*>(opaque);
    auto tag = reinterpret_cast<uintptr_t>(msg->_private);
    Published* p = self->find(static_cast<uint32_t>(tag >> 32));  // none: a batch given up on
    size_t index = tag & 0xffffffffu;
    if (!p || index >= p->outcomes.size()) return;
    --p->pending;
    Outcome& o = p->outcomes[index];
    --p->records_left[index];
    if (!msg->err) {
      self->reachable_ = true;
      self->connection_problem_.clear();
      self->problem_is_cause_ = false;
      if (p->records_left[index] == 0 && !p->failed[index]) o = {Outcome::delivered, {}};
      return;
    }
    p->failed[index] = true;
    auto verdict = kafka::classify(msg->err);
    if (verdict == kafka::Verdict::recreate) self->fatal_ = true;
    o.kind = verdict == kafka::Verdict::rejected ? Outcome::rejected : Outcome::retriable;
    o.error = fmt::format("{}: {}", rd_kafka_err2name(msg->err), rd_kafka_err2str(msg->err));
    if (msg->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || msg->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      o.error = unknown_topic(msg->rkt ? rd_kafka_topic_name(msg->rkt) : "?", msg->err);
  }

  // A record's topic the cluster does not have, whether the producer knew it at once or learnt it.
  static std::string unknown_topic(std::string_view topic, rd_kafka_resp_err_t err) {
    return fmt::format("the topic \"{}\" does not exist and the cluster does not create topics on first use "
                       "(auto.create.topics.enable=false): create it; messages wait until it exists ({})",
                       topic, rd_kafka_err2name(err));
  }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) noexcept {
    auto* self = static_cast<KafkaSink*>(opaque);
    auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__FATAL) self->fatal_ = true;
    if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->reachable_ = false;
    // A refused login or handshake is the cause to name: the transport errors it brings after it
    // (a connection closed, every broker down) do not replace it.
    if (auto problem = kafka::describe_connection_error(code, reason, self->props_); !problem.empty()) {
      const bool cause = code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR__SSL;
      if (cause || !self->problem_is_cause_) self->connection_problem_ = std::move(problem);
      if (cause) self->problem_is_cause_ = true;
    }
    // librdkafka repeats connection errors while a broker is away: say each one once a minute.
    auto now = Clock::now();
    if (code == self->last_error_code_ && now - self->last_error_at_ < std::chrono::minutes(1)) return;
    self->last_error_code_ = code;
    self->last_error_at_ = now;
    self->ctx_.log->warn("Kafka client error.", {{"error", fmt::format("{}: {}", rd_kafka_err2name(code), reason)}});
  }

  BuildContext ctx_;
  std::vector<kafka::Property> props_;
  kafka::KeyRule key_rule_;
  ClientPtr producer_;
  std::unordered_map<std::string, TopicPtr> topics_;
  std::deque<Published> published_;  // oldest first
  uint32_t serial_ = 0;
  bool fatal_ = false;
  bool fatal_said_ = false;  // logged since the producer started
  // The connection's last problem (error callback), until a record is delivered again.
  std::string connection_problem_;
  bool problem_is_cause_ = false;
  bool reachable_ = true;
  rd_kafka_resp_err_t last_error_code_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  Clock::time_point last_error_at_{};
  kafka::Record record_;
  std::string key_buf_, topic_error_;
  std::unique_ptr<AvroRecords> avro_;  // the avro converter's, when a part is Avro
  std::unique_ptr<PositionLog> positions_;  // "delivery": "exactly_once": the transactions' positions
  std::string committed_;                  // the position record committed last
  bool conversion_failed_ = false;     // the last produce() failed converting: conversion_failure_ says why
  Outcome conversion_failure_;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_sink(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection s = config.sink_section();
  std::string topic = s.text("topic");
  if (auto problem = kafka::topic_template_problem(topic); !problem.empty())
    return fatal(fmt::format("pipeline \"{}\" sink \"kafka\": key \"topic\": {}", config.name, problem));
  auto key = kafka::KeyRule::from_option(s.text("key"));
  auto props = kafka::producer_properties(s, "pgtrickle-relay-" + config.name);
  if (auto problem = kafka::named_property_problem(props); !problem.empty())
    return fatal(fmt::format("pipeline \"{}\" sink \"kafka\": {}", config.name, problem));
  std::unique_ptr<AvroRecords> avro;
  if (config.converters.any_avro()) {
    auto registry = registry_options(s, ctx.metrics);
    const std::string strategy = s.text("subject_name_strategy");
    avro = std::make_unique<AvroRecords>(config.converters, std::move(registry),
                                         strategy == "record"         ? SubjectStrategy::record
                                         : strategy == "topic_record" ? SubjectStrategy::topic_record
                                                                      : SubjectStrategy::topic);
    avro->registry().restrict_to(ctx.host_access);
  }
  std::unique_ptr<PositionLog> positions;
  if (config.exactly_once) {
    // One transactional id per database, relay group and pipeline: whichever relay owns the
    // pipeline next takes it up, and so fences the producer of the one before; a pipeline of the
    // same name in another database writing to the same cluster has its own.
    std::string database = "?";
    if (ctx.db) {
      auto r = ctx.db->exec("SELECT current_database()");
      if (!r) return r.error();
      database = r->str(0, 0);
    }
    const std::string id = fmt::format("pgtrickle-relay-{}-{}-{}", database, ctx.relay_group_id, config.name);
    props.push_back({"transactional.id", id, "delivery"});
    // The group coordinator answers a transaction's offsets with CONCURRENT_TRANSACTIONS while it
    // still writes the markers of the one before: retried after 5 ms, not librdkafka's 100 ms, and
    // again after 5 ms, not twice as long each time (librdkafka's backoff doubles up to 1 s).
    props.push_back({"retry.backoff.ms", "5", "rdkafka.retry.backoff.ms"});
    props.push_back({"retry.backoff.max.ms", "5", "rdkafka.retry.backoff.max.ms"});
    positions = std::make_unique<PositionLog>(props, s.has("positions_topic") ? s.text("positions_topic") : "pgtrickle-relay-positions", id);
  }
  return std::unique_ptr<Sink>(
      std::make_unique<KafkaSink>(ctx, std::move(props), std::move(key), std::move(avro), std::move(positions)));
}

}  // namespace relay::kafka
