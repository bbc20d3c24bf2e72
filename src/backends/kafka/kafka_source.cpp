// Kafka source: one consumer in the configured group. poll() gathers records into a batch (each
// partition in offset order); ack(), called after the inbox commit, commits the next offset of every
// partition the batch holds (one commit in flight at a time: offsets acknowledged meanwhile go with
// the next one). Nothing is committed otherwise, so after a crash, a stop or a rebalance the
// partition's next owner reads from the last committed offset on, and the inbox drops what it
// already holds.
#include <fcntl.h>
#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/build_context.h"
#include "relay/source.h"
#include "backends/kafka/kafka_avro.h"
#include "backends/kafka/kafka_client.h"
#include "backends/kafka/kafka_config.h"
#include "backends/kafka/kafka_record.h"
#include "backends/kafka/kafka_source_errors.h"
#include "util/strings.h"

namespace relay::kafka {
namespace {


constexpr auto kFillWindow = std::chrono::milliseconds(5);      // waiting for more once a record came
constexpr auto kConnectTimeout = std::chrono::seconds(5);       // start(): brokers and topics known
constexpr auto kCloseTimeout = std::chrono::seconds(5);

using PartitionId = std::pair<std::string, std::int32_t>;

// What ack() commits: the next offset of each partition of the batch, read by consumer `generation`.
struct Offsets {
  std::uint64_t generation = 0;
  std::vector<std::pair<PartitionId, std::int64_t>> next;
};

class KafkaSource final : public Source {
 public:
  KafkaSource(const BuildContext& ctx, std::vector<kafka::Property> props, std::vector<std::string> topics,
              std::string group, size_t batch_size, std::unique_ptr<AvroDecoder> avro, bool dead_letter_unavailable)
      : ctx_(ctx), props_(std::move(props)), topics_(std::move(topics)), group_(std::move(group)),
        batch_size_(std::max<size_t>(1, batch_size)), avro_(std::move(avro)),
        dead_letter_unavailable_(dead_letter_unavailable) {
    for (const auto& p : props_)
      if (p.name == "auto.offset.reset") starts_at_end_ = p.value == "latest" || p.value == "end" || p.value == "largest";
  }

  ~KafkaSource() override { stop(); }

  const log::Logger& log() const { return *ctx_.log; }  // librdkafka's log lines (log_to_owner)

  Status start() override {
    stop();
    auto consumer = make_client(RD_KAFKA_CONSUMER, props_, {"kafka source", this, [](rd_kafka_conf_t* conf) {
                                  rd_kafka_conf_set_rebalance_cb(conf, &KafkaSource::on_rebalance);
                                  rd_kafka_conf_set_error_cb(conf, &KafkaSource::on_error);
                                  rd_kafka_conf_set_log_cb(conf, &log_to_owner<KafkaSource>);
                                }});
    if (!consumer) return consumer.error();
    rk_ = consumer->release();  // destroyed by close_consumer() in stop()
    ++generation_;
    error_.reset();
    assigned_once_ = false;
    committing_ = false;
    unsent_.clear();
    in_flight_.clear();
    owned_.clear();
    committed_.clear();
    // Errors, logs and rebalances are served by the consumer poll, on this thread.
    rd_kafka_poll_set_consumer(rk_);
    queue_.reset(rd_kafka_queue_get_consumer(rk_));
    commit_queue_.reset(rd_kafka_queue_new(rk_));
    // wait() sleeps on this pipe: librdkafka writes to it when the consumer queue gets something.
    if (::pipe2(wakeup_, O_NONBLOCK | O_CLOEXEC) != 0) {
      stop();
      return retriable(fmt::format("kafka source: cannot create a pipe: {}", std::strerror(errno)));
    }
    rd_kafka_queue_io_event_enable(queue_.get(), wakeup_[1], "1", 1);
    // ... and when a commit is answered, so that offsets waiting for it go out while idle.
    rd_kafka_queue_io_event_enable(commit_queue_.get(), wakeup_[1], "1", 1);

    if (auto s = check_cluster(); !s) {
      stop();
      return s;
    }
    ListPtr subscription(rd_kafka_topic_partition_list_new(static_cast<int>(topics_.size())));
    for (const auto& t : topics_) rd_kafka_topic_partition_list_add(subscription.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    if (auto e = rd_kafka_subscribe(rk_, subscription.get())) {
      stop();
      return fatal(fmt::format("kafka source: key \"topic\": cannot subscribe to {}: {}", util::join(topics_, ", "),
                               rd_kafka_err2str(e)));
    }
    ctx_.log->info("Subscribed to Kafka.", {{"topics", util::join(topics_, ",")}, {"group_id", group_}});
    subscribed_at_ = Clock::now();
    return {};
  }

  // A consumer the group has not given partitions (none, even an empty share) a while after it
  // subscribed: another member holds them, typically one that died without leaving the group,
  // until its session times out. /health says so rather than "running" with nothing consumed.
  std::string at_risk() const {
    constexpr auto kPatience = std::chrono::seconds(15);
    if (!rk_ || assigned_once_ || Clock::now() - subscribed_at_ < kPatience) return "";
    auto waited = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - subscribed_at_).count();
    return fmt::format("waiting {} s so far for the consumer group \"{}\" to assign partitions of {}: a member that "
                       "stopped without leaving the group holds them until its session.timeout.ms ends",
                       waited, group_, util::join(topics_, ", "));
  }

  Result<Batch> poll(Deadline) override {
    if (!rk_) return retriable("kafka source: the consumer is not running");
    serve_commits();
    msgs_.clear();
    parts_.clear();
    Clock::time_point fill_until{};
    while (msgs_.size() < batch_size_ && !error_) {
      MessagePtr m(rd_kafka_consumer_poll(rk_, 0));
      if (!m) {
        // Nothing queued: wait a little for more once the batch has a first record.
        int left = msgs_.empty() ? 0 : ms_until(fill_until);
        if (left <= 0) break;
        m.reset(rd_kafka_consumer_poll(rk_, left));
        if (!m) break;
      }
      if (m->err) {
        consumer_error(m.get());
        continue;
      }
      if (msgs_.empty()) fill_until = Clock::now() + kFillWindow;
      problem_.clear();  // a record arrived: the brokers are back
      add(m.get());
    }
    if (msgs_.empty()) {
      if (error_) return std::exchange(error_, std::nullopt).value();
      return Batch{};
    }
    // Records of partitions revoked during this poll were dropped by on_rebalance.
    auto offsets = std::make_shared<Offsets>();
    offsets->generation = generation_;
    for (const auto& p : parts_)
      if (!p.revoked) offsets->next.emplace_back(p.id, p.next_offset);
    Batch b;
    b.messages = std::move(msgs_);
    b.token = std::move(offsets);
    msgs_.clear();
    part_of_.clear();
    return b;
  }

  // While librdkafka reconnects by itself (it repeats the error every few seconds), the pipeline
  // shows the error; it clears with the next record or 30 s after the last error.
  std::string degraded() const {
    if (problem_.empty() || Clock::now() - problem_at_ > std::chrono::seconds(30)) return "";
    return problem_;
  }

  void wait(Deadline deadline) override {
    if (!rk_) return;
    pollfd fds[2] = {{wakeup_[0], POLLIN, 0}, {ctx_.wake_fd, POLLIN, 0}};
    ::poll(fds, ctx_.wake_fd >= 0 ? 2 : 1, ms_until(deadline));
    char buf[64];
    while (::read(wakeup_[0], buf, sizeof buf) > 0) {
    }
  }

  Status ack(const Batch& batch) override {
    auto* offsets = static_cast<const Offsets*>(batch.token.get());
    if (!offsets || offsets->next.empty()) return {};
    // Read by an earlier consumer of this source: the group hands those records out again.
    if (!rk_ || offsets->generation != generation_) return {};
    for (const auto& [id, next] : offsets->next) unsent_[id] = next;
    serve_commits();
    return {};
  }

  SourceTrouble trouble() override { return {degraded(), at_risk()}; }

  SourceStatus status() override {
    SourceStatus s;
    lag(s.lag_rows, s.lag_seconds);
    return s;
  }

  // Records at the brokers after the last committed (or, before any commit, the fetch) position of
  // each partition this consumer holds; from the watermarks librdkafka keeps from fetch responses.
  void lag(std::int64_t& rows, double& seconds) {
    rows = -1;
    seconds = -1;
    if (!rk_ || !assigned_once_) return;
    serve_commits();
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(rk_, &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    ListPtr assignment(raw);
    rd_kafka_position(rk_, assignment.get());
    // A partition nothing was read from yet starts at the group's committed offset (asked of the
    // coordinator, briefly), or where auto.offset.reset says when the group has none.
    ListPtr unread(rd_kafka_topic_partition_list_new(0));
    for (int i = 0; i < assignment->cnt; ++i) {
      const auto& tp = assignment->elems[i];
      if (tp.offset < 0 && !committed_.count({tp.topic, tp.partition})) rd_kafka_topic_partition_list_add(unread.get(), tp.topic, tp.partition);
    }
    if (unread->cnt > 0 && rd_kafka_committed(rk_, unread.get(), 500) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    std::int64_t total = 0;
    for (int i = 0; i < assignment->cnt; ++i) {
      const auto& tp = assignment->elems[i];
      std::int64_t low = 0, high = 0;
      if (rd_kafka_get_watermark_offsets(rk_, tp.topic, tp.partition, &low, &high) || high < 0) return;
      auto it = committed_.find({tp.topic, tp.partition});
      std::int64_t from = it != committed_.end() ? it->second : tp.offset;
      if (from < 0)
        if (auto* u = rd_kafka_topic_partition_list_find(unread.get(), tp.topic, tp.partition))
          from = u->offset >= 0 ? u->offset : starts_at_end_ ? high : low;
      if (from < 0) return;  // unknown
      total += std::max<std::int64_t>(0, high - std::max(from, low));
    }
    rows = total;
  }

  void stop() override {
    if (rk_) {
      // The last offsets: what is not committed now is read again (and dropped as a duplicate).
      Deadline until = Clock::now() + kCloseTimeout;
      while ((committing_ || !unsent_.empty()) && Clock::now() < until) serve_commits(std::min(100, ms_until(until)));
      if (committing_ || !unsent_.empty())
        ctx_.log->info("Stopping with offsets not committed; the records after them are read again and dropped by "
                       "the inbox.", {});
      rd_kafka_queue_io_event_enable(queue_.get(), -1, nullptr, 0);
      rd_kafka_queue_io_event_enable(commit_queue_.get(), -1, nullptr, 0);
      close_consumer();
      queue_.reset();
      commit_queue_.reset();
      rk_ = nullptr;
    }
    for (int& fd : wakeup_) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }

 private:
  struct Partition {
    PartitionId id;
    std::int64_t next_offset = 0;
    bool revoked = false;
  };

  // Fails early, with a message that says what to fix, when no broker answers or a topic is missing.
  // The metadata of all topics is asked for: asking for one topic by name would make a broker that
  // auto-creates topics create it (a typo in `topic` must not create a topic).
  Status check_cluster() {
    const rd_kafka_metadata_t* md = nullptr;
    int timeout = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kConnectTimeout).count());
    if (auto e = rd_kafka_metadata(rk_, 1, nullptr, &md, timeout))
      return retriable(fmt::format("kafka source: no answer from the brokers {} within {} s: {}", brokers(),
                                   kConnectTimeout.count(), rd_kafka_err2str(e)));
    std::unique_ptr<const rd_kafka_metadata_t, KafkaDeleter> hold(md);
    for (const auto& t : topics_) {
      if (!t.empty() && t[0] == '^') continue;  // a pattern: it may match nothing yet
      bool found = false;
      for (int i = 0; i < md->topic_cnt && !found; ++i) found = t == md->topics[i].topic && !md->topics[i].err;
      if (!found)
        return retriable(fmt::format("kafka source: topic \"{}\" does not exist on the brokers {} (create the topic; "
                                     "a consumer does not create it)", t, brokers()));
    }
    return {};
  }

  std::string brokers() const {
    for (const auto& p : props_)
      if (p.name == "bootstrap.servers") return p.value;
    return {};
  }

  void add(const rd_kafka_message_t* m) {
    kafka::RecordView r;
    r.topic = rd_kafka_topic_name(m->rkt);
    r.partition = m->partition;
    r.offset = m->offset;
    if (m->key) r.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) r.value = std::string_view(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* value;
      size_t size;
      for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
        if (value) r.headers.emplace_back(name, std::string_view(static_cast<const char*>(value), size));
        else r.headers.emplace_back(name, std::nullopt);
      }
    }
    rd_kafka_timestamp_type_t type;
    r.timestamp_ms = rd_kafka_message_timestamp(m, &type);
    Message& msg = msgs_.emplace_back();
    kafka::to_message(r, msg);
    if (avro_ && !decode_avro(msg)) {
      msgs_.pop_back();  // its offset is not taken: the rebuilt consumer reads it again
      return;
    }

    // The batch's partitions: few, so a linear search.
    size_t i = 0;
    while (i < parts_.size() && !(parts_[i].id.second == m->partition && parts_[i].id.first == r.topic)) ++i;
    if (i == parts_.size()) parts_.push_back({{std::string(r.topic), m->partition}, 0, false});
    parts_[i].next_offset = m->offset + 1;
    parts_[i].revoked = false;
    part_of_.push_back(i);
  }

  // The record's Avro key and value as JSON. A schema the registry cannot give now: with
  // schema_unavailable "wait", false (the pipeline waits and reads the record again); else, like a
  // record that is no Avro of its schema, the message goes to the dead letters with the reason.
  bool decode_avro(Message& msg) {
    for (bool is_key : {true, false}) {
      auto s = avro_->decode(is_key, is_key ? msg.key : msg.data);
      if (s) continue;
      if (s.error().kind == ErrorKind::retriable && !dead_letter_unavailable_) {
        error_ = Error{ErrorKind::retriable, "kafka source: " + s.error().message +
                                                 "; the record is read again once the schema registry answers"};
        return false;
      }
      msg.poison = s.error().message;
      return true;
    }
    return true;
  }

  void consumer_error(const rd_kafka_message_t* m) {
    std::string where = m->rkt ? fmt::format(" (topic \"{}\", partition {})", rd_kafka_topic_name(m->rkt), m->partition) : "";
    report(m->err, rd_kafka_message_errstr(m) + where);
  }

  // The consumer's errors, from poll and from the error callback: log them, or stop the pipeline's
  // consumer so that it is rebuilt and the problem shows in /health.
  void report(rd_kafka_resp_err_t err, const std::string& text) {
    switch (kafka::classify_consumer_error(err)) {
      case kafka::ConsumerVerdict::ignore:
        return;
      case kafka::ConsumerVerdict::restart:
        if (!error_) error_ = retriable(fmt::format("kafka source: {}: {}", rd_kafka_err2name(err), text));
        return;
      case kafka::ConsumerVerdict::log:
        break;
    }
    // librdkafka repeats connection errors while a broker is away: say each one once a minute.
    auto now = Clock::now();
    problem_ = fmt::format("kafka source: {}: {}", rd_kafka_err2name(err), text);
    problem_at_ = now;
    if (err == last_error_code_ && now - last_error_at_ < std::chrono::minutes(1)) return;
    last_error_code_ = err;
    last_error_at_ = now;
    ctx_.log->warn("Kafka client error.", {{"error", fmt::format("{}: {}", rd_kafka_err2name(err), text)}});
  }

  // Reads the answer to the commit in flight (waiting at most `wait_ms`) and sends the offsets
  // acknowledged since, all in one commit: one in flight at a time, so a slow or absent coordinator
  // never holds the pipeline up, and the newest offset of a partition supersedes older ones.
  void serve_commits(int wait_ms = 0) {
    while (committing_) {
      EventPtr ev(rd_kafka_queue_poll(commit_queue_.get(), wait_ms));
      if (!ev) break;
      if (rd_kafka_event_type(ev.get()) != RD_KAFKA_EVENT_OFFSET_COMMIT) continue;
      committing_ = false;
      const auto* parts = rd_kafka_event_topic_partition_list(ev.get());
      rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get());
      for (int i = 0; parts && !err && i < parts->cnt; ++i) err = parts->elems[i].err;
      commit_result(err);
    }
    if (committing_ || unsent_.empty()) return;
    ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(unsent_.size())));
    for (const auto& [id, next] : unsent_) rd_kafka_topic_partition_list_add(list.get(), id.first.c_str(), id.second)->offset = next;
    in_flight_ = std::move(unsent_);
    unsent_.clear();
    if (auto e = rd_kafka_commit_queue(rk_, list.get(), commit_queue_.get(), nullptr, nullptr)) {
      commit_result(e);
      return;
    }
    committing_ = true;
  }

  void commit_result(rd_kafka_resp_err_t err) {
    switch (kafka::classify_commit_error(err)) {
      case kafka::CommitVerdict::done:
        for (const auto& [id, next] : in_flight_) committed_[id] = next;
        break;
      case kafka::CommitVerdict::superseded:
        ctx_.log->info("The group rebalanced before the offsets were committed; the new owner of those partitions "
                       "reads the records again and the inbox drops the duplicates.",
                       {{"error", fmt::format("{}: {}", rd_kafka_err2name(err), rd_kafka_err2str(err))}});
        break;
      case kafka::CommitVerdict::retry:
        // Nothing is lost: sent again with the next commit (unless a newer offset of the partition
        // is waiting), and the lag shows what is not committed meanwhile.
        for (const auto& [id, next] : in_flight_)
          if (owned_.count(id)) unsent_.emplace(id, next);
        report_commit_failure(err);
        break;
    }
    in_flight_.clear();
  }

  void report_commit_failure(rd_kafka_resp_err_t err) {
    auto now = Clock::now();
    if (err == last_commit_error_ && now - last_commit_error_at_ < std::chrono::minutes(1)) return;
    last_commit_error_ = err;
    last_commit_error_at_ = now;
    ctx_.log->warn("Committing the group's offsets failed; retrying with the next commit.",
                   {{"group_id", group_}, {"error", fmt::format("{}: {}", rd_kafka_err2name(err), rd_kafka_err2str(err))}});
  }

  // Records polled but not yet in a batch handed out belong to the partitions' next owner now.
  void drop_revoked(const rd_kafka_topic_partition_list_t* revoked) {
    bool any = false;
    for (auto& p : parts_) {
      for (int i = 0; i < revoked->cnt; ++i) {
        if (p.id.second == revoked->elems[i].partition && p.id.first == revoked->elems[i].topic) {
          p.revoked = true;
          any = true;
        }
      }
    }
    for (int i = 0; i < revoked->cnt; ++i) {
      PartitionId id{revoked->elems[i].topic, revoked->elems[i].partition};
      committed_.erase(id);
      unsent_.erase(id);  // the new owner commits from now on
      owned_.erase(id);
    }
    if (!any) return;
    size_t keep = 0;
    for (size_t i = 0; i < msgs_.size(); ++i) {
      if (parts_[part_of_[i]].revoked) continue;
      if (keep != i) {
        msgs_[keep] = std::move(msgs_[i]);
        part_of_[keep] = part_of_[i];
      }
      ++keep;
    }
    msgs_.resize(keep);
    part_of_.resize(keep);
  }

  static std::string describe(const rd_kafka_topic_partition_list_t* parts) {
    std::string out;
    for (int i = 0; i < parts->cnt && i < 32; ++i) {
      if (!out.empty()) out += ',';
      out += fmt::format("{}[{}]", parts->elems[i].topic, parts->elems[i].partition);
    }
    if (parts->cnt > 32) out += fmt::format(",... ({} in all)", parts->cnt);
    return out;
  }

  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                           void* opaque) noexcept {
    auto* self = static_cast<KafkaSource*>(opaque);
    bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->assigned_once_ = true;
      for (int i = 0; i < parts->cnt; ++i) self->owned_.emplace(parts->elems[i].topic, parts->elems[i].partition);
      self->ctx_.log->info("Kafka partitions assigned.", {{"partitions", describe(parts)}, {"group_id", self->group_}});
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
      } else {
        rd_kafka_assign(rk, parts);
      }
      return;
    }
    // Revoked or lost: nothing of them is committed from here on.
    self->ctx_.log->info("Kafka partitions revoked.", {{"partitions", describe(parts)}, {"group_id", self->group_},
                                                       {"lost", rd_kafka_assignment_lost(rk) ? "true" : "false"}});
    self->drop_revoked(parts);
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) noexcept {
    static_cast<KafkaSource*>(opaque)->report(static_cast<rd_kafka_resp_err_t>(err), reason);
  }

  // Leaves the group (so that the others take the partitions over at once), within kCloseTimeout.
  void close_consumer() {
    QueuePtr q(rd_kafka_queue_new(rk_));
    bool closed = false;
    if (rd_kafka_error_t* e = rd_kafka_consumer_close_queue(rk_, q.get())) {
      rd_kafka_error_destroy(e);
    } else {
      Deadline until = Clock::now() + kCloseTimeout;
      while (!(closed = rd_kafka_consumer_closed(rk_)) && Clock::now() < until) {
        EventPtr ev(rd_kafka_queue_poll(q.get(), std::min(100, ms_until(until))));
        if (!ev || rd_kafka_event_type(ev.get()) != RD_KAFKA_EVENT_REBALANCE) continue;
        // Only revocations come now; they end this consumer's assignment.
        if (std::strcmp(rd_kafka_rebalance_protocol(rk_), "COOPERATIVE") == 0) {
          if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_, rd_kafka_event_topic_partition_list(ev.get())))
            rd_kafka_error_destroy(e);
        } else {
          rd_kafka_assign(rk_, nullptr);
        }
      }
    }
    q.reset();
    queue_.reset();
    commit_queue_.reset();
    if (closed) rd_kafka_destroy(rk_);
    else rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }

  BuildContext ctx_;
  std::vector<kafka::Property> props_;
  std::vector<std::string> topics_;
  std::string group_;
  size_t batch_size_;
  std::unique_ptr<AvroDecoder> avro_;  // the avro converter's, when keys or values are Avro
  bool dead_letter_unavailable_;       // schema_unavailable "dead_letter"

  rd_kafka_t* rk_ = nullptr;
  QueuePtr queue_, commit_queue_;
  int wakeup_[2] = {-1, -1};
  std::uint64_t generation_ = 0;  // one per consumer: a batch read by an earlier one is not committed
  // Offsets: acknowledged and not yet sent (newest per partition), the commit in flight (one at
  // most), and what the coordinator confirmed.
  std::map<PartitionId, std::int64_t> unsent_, in_flight_;
  bool committing_ = false;
  std::set<PartitionId> owned_;  // the partitions assigned to this consumer
  std::optional<Error> error_;    // a consumer error that stops the consumer, returned by poll()
  bool assigned_once_ = false;
  Clock::time_point subscribed_at_{};
  std::map<PartitionId, std::int64_t> committed_;
  bool starts_at_end_ = false;  // auto.offset.reset: where a partition the group never committed starts
  rd_kafka_resp_err_t last_commit_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  Clock::time_point last_commit_error_at_{};

  // The batch being gathered (on_rebalance may drop some of it): messages, their partitions.
  std::vector<Message> msgs_;
  std::vector<size_t> part_of_;
  std::vector<Partition> parts_;

  rd_kafka_resp_err_t last_error_code_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  Clock::time_point last_error_at_{};
  std::string problem_;  // the last client error while no record arrived since (degraded())
  Clock::time_point problem_at_{};
};

std::vector<std::string> topic_list(const nlohmann::json& t) {
  std::vector<std::string> out;
  auto add = [&](std::string_view text) {
    if (!text.empty() && text[0] == '^') {  // a pattern may hold commas itself
      out.emplace_back(text);
      return;
    }
    for (auto part : util::split_list(text, ',')) {
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      if (!part.empty()) out.emplace_back(part);
    }
  };
  if (t.is_array()) {
    for (const auto& x : t) add(x.get<std::string>());
  } else {
    add(t.get<std::string>());
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Source>> make_source(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection s = config.source_section();
  auto where = fmt::format("pipeline \"{}\" source \"kafka\"", config.name);
  auto topics = topic_list(s.value("topic"));
  if (topics.empty()) return fatal(fmt::format("{}: key \"topic\": name at least one topic", where));
  if (auto problem = kafka::consumer_property_problem(s); !problem.empty()) return fatal(fmt::format("{}: {}", where, problem));
  auto props = kafka::consumer_properties(s, "pgtrickle-relay-" + config.name,
                                         "pgtrickle-relay-" + ctx.relay_group_id + "-" + config.name);
  if (auto problem = kafka::named_property_problem(props); !problem.empty()) return fatal(fmt::format("{}: {}", where, problem));
  std::unique_ptr<AvroDecoder> avro;
  if (config.converters.any_avro()) {
    avro = std::make_unique<AvroDecoder>(config.converters, registry_options(s, ctx.metrics));
    avro->registry().restrict_to(ctx.host_access);
  }
  return std::unique_ptr<Source>(std::make_unique<KafkaSource>(ctx, std::move(props), std::move(topics),
                                                               s.text("group_id"), static_cast<size_t>(config.batch_size),
                                                               std::move(avro), s.text("schema_unavailable") == "dead_letter"));
}

}  // namespace relay::kafka
