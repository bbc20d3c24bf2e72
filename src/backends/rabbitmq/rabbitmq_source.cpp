// RabbitMQ source: basic.consume with manual acknowledgement on one channel, basic.qos limiting the
// unacknowledged messages. poll() gathers deliveries into a batch; ack(), called after the inbox
// commit, acknowledges the whole batch with one basic.ack (multiple) of its last delivery tag.
// stop() gives every unacknowledged delivery back (basic.nack, requeue), and a dropped connection
// does the same at the broker, so nothing is lost and redelivery is quick.
#include <amqp.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/build_context.h"
#include "relay/source.h"
#include "backends/rabbitmq/amqp_connection.h"
#include "backends/rabbitmq/rabbitmq_encode.h"
#include "backends/rabbitmq/rabbitmq_delivery.h"

namespace relay::rabbitmq {
namespace {

using rabbitmq::bytes;
using rabbitmq::view;

constexpr amqp_channel_t kConsumerChannel = 1;      // the consumer
constexpr amqp_channel_t kLagChannel = 2;   // passive queue.declare for the lag, apart from the consumer
constexpr auto kCloseTimeout = std::chrono::seconds(2);
constexpr auto kFillWindow = std::chrono::milliseconds(5);  // waiting for more once a delivery came

struct SourceSettings {
  rabbitmq::Url url;
  rabbitmq::TlsFiles tls;
  std::string queue;
  int prefetch = 0;
  size_t batch_size = 1000;
};

// What ack() acknowledges: every delivery up to `last_tag` on connection `generation`.
struct Deliveries {
  std::uint64_t generation = 0;
  std::uint64_t last_tag = 0;
};

int ms_until(Clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, 60000));
}

class RabbitmqSource final : public Source {
 public:
  RabbitmqSource(SourceSettings s, const BuildContext& ctx) : s_(std::move(s)), ctx_(ctx) {}
  ~RabbitmqSource() override { stop(); }

  Status start() override {
    stop();
    auto opened = rabbitmq::open_connection(s_.url, s_.tls, "source.url", kConsumerChannel);
    if (!opened) return opened.error();
    rabbitmq::ConnectionPtr c = std::move(*opened);
    keep_alive(amqp_get_sockfd(c.get()));
    amqp_basic_qos(c.get(), kConsumerChannel, 0, static_cast<uint16_t>(s_.prefetch), 0);
    if (auto s = rabbitmq::check_reply(c.get(), kConsumerChannel, amqp_get_rpc_reply(c.get()),
                                        fmt::format("basic.qos (prefetch {})", s_.prefetch));
        !s)
      return s;
    amqp_basic_consume(c.get(), kConsumerChannel, bytes(s_.queue), amqp_empty_bytes, 0, /*no_ack=*/0, 0, amqp_empty_table);
    auto reply = amqp_get_rpc_reply(c.get());
    int refused = reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD
                      ? static_cast<amqp_channel_close_t*>(reply.reply.decoded)->reply_code
                      : 0;
    if (auto s = rabbitmq::check_reply(c.get(), kConsumerChannel, reply, fmt::format("consuming from the queue \"{}\"", s_.queue)); !s) {
      if (refused == AMQP_NOT_FOUND)
        return fatal(fmt::format("{} (the relay does not declare queues: create \"{}\" in vhost \"{}\" and bind it)",
                                 s.error().message, s_.queue, s_.url.vhost));
      return s;
    }
    amqp_channel_open(c.get(), kLagChannel);
    lag_channel_ = amqp_get_rpc_reply(c.get()).reply_type == AMQP_RESPONSE_NORMAL;
    conn_ = std::move(c);
    ++generation_;
    error_.reset();
    ctx_.log->info("Consuming from RabbitMQ.", {{"host", s_.url.host}, {"port", std::to_string(s_.url.port)},
                                               {"vhost", s_.url.vhost}, {"queue", s_.queue},
                                               {"prefetch", std::to_string(s_.prefetch)}});
    return {};
  }

  Result<Batch> poll(Deadline) override {
    if (error_) return std::exchange(error_, std::nullopt).value();
    if (!conn_) return retriable("RabbitMQ source: not connected");
    msgs_.clear();
    std::uint64_t last_tag = 0;
    Clock::time_point fill_until{};
    while (msgs_.size() < s_.batch_size && !error_) {
      timeval tv{0, 0};  // nothing waiting: return at once
      if (!msgs_.empty()) {
        auto now = Clock::now();
        if (now >= fill_until) break;
        tv = rabbitmq::to_timeval(std::chrono::duration_cast<std::chrono::microseconds>(fill_until - now));
      }
      amqp_maybe_release_buffers(conn_.get());
      amqp_envelope_t env;
      amqp_rpc_reply_t r = amqp_consume_message(conn_.get(), &env, &tv, 0);
      if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        rabbitmq::decode_delivery(s_.queue, view(env.routing_key), env.message.properties, view(env.message.body),
                                   msgs_.emplace_back());
        last_tag = env.delivery_tag;
        amqp_destroy_envelope(&env);
        if (msgs_.size() == 1) fill_until = Clock::now() + kFillWindow;
        continue;
      }
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
        if (msgs_.empty()) break;
        continue;
      }
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        other_frame();
        continue;
      }
      lost(fmt::format("RabbitMQ connection lost: {}",
                       r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? amqp_error_string2(r.library_error) : "unexpected reply"));
    }
    if (msgs_.empty()) {
      if (error_) return std::exchange(error_, std::nullopt).value();
      return Batch{};
    }
    auto token = std::make_shared<Deliveries>();
    token->generation = generation_;
    token->last_tag = last_tag;
    Batch b;
    b.messages = std::move(msgs_);
    b.token = std::move(token);
    msgs_.clear();
    return b;
  }

  void wait(Deadline deadline) override {
    if (!conn_ || error_) return;
    // Frames already read from the socket are not seen by poll(2).
    if (amqp_frames_enqueued(conn_.get()) || amqp_data_in_buffer(conn_.get())) return;
    pollfd fds[2] = {{amqp_get_sockfd(conn_.get()), POLLIN, 0}, {ctx_.wake_fd, POLLIN, 0}};
    ::poll(fds, ctx_.wake_fd >= 0 ? 2 : 1, ms_until(deadline));
  }

  Status ack(const Batch& batch) override {
    auto* d = static_cast<const Deliveries*>(batch.token.get());
    if (!d || d->last_tag == 0) return {};
    // Delivered on a connection that is gone: the broker has requeued them already.
    if (!conn_ || d->generation != generation_) return {};
    if (int rc = amqp_basic_ack(conn_.get(), kConsumerChannel, d->last_tag, /*multiple=*/1); rc != AMQP_STATUS_OK) {
      conn_.reset();
      return retriable(fmt::format("RabbitMQ: acknowledging the batch failed: {} (the broker redelivers it; the inbox "
                                   "drops what it holds already)", amqp_error_string2(rc)));
    }
    return {};
  }

  SourceStatus status() override {
    SourceStatus s;
    lag(s.lag_rows, s.lag_seconds);
    return s;
  }

  // Messages ready in the queue (not counting those delivered and not yet acknowledged), from a
  // passive queue.declare on a channel of its own.
  void lag(std::int64_t& rows, double& seconds) {
    rows = -1;
    seconds = -1;
    if (!conn_ || !lag_channel_ || error_) return;
    auto* ok = amqp_queue_declare(conn_.get(), kLagChannel, bytes(s_.queue), /*passive=*/1, 0, 0, 0, amqp_empty_table);
    auto reply = amqp_get_rpc_reply(conn_.get());
    if (ok && reply.reply_type == AMQP_RESPONSE_NORMAL) {
      rows = ok->message_count;
      return;
    }
    lag_channel_ = false;  // the broker closed that channel (or the connection): no more lag
    if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
      bool connection_closed = reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD;
      auto s = rabbitmq::check_reply(conn_.get(), kLagChannel, reply, "queue.declare (passive)");
      if (!s && connection_closed) lost(s.error().message);
    } else if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
      lost(fmt::format("RabbitMQ connection lost: {}", amqp_error_string2(reply.library_error)));
    }
  }

  void stop() override {
    if (!conn_) return;
    timeval tv = rabbitmq::to_timeval(kCloseTimeout);
    amqp_set_rpc_timeout(conn_.get(), &tv);
    // Everything delivered and not acknowledged goes back to the queue at once (tag 0 + multiple:
    // all of them), rather than when the broker notices the channel is gone.
    amqp_basic_nack(conn_.get(), kConsumerChannel, 0, /*multiple=*/1, /*requeue=*/1);
    amqp_channel_close(conn_.get(), kConsumerChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_.get(), AMQP_REPLY_SUCCESS);
    conn_.reset();
  }

 private:
  // TCP keepalive finds a dead broker (no heartbeats, see open_connection) within about a minute.
  static void keep_alive(int fd) {
    int on = 1, idle = 30, interval = 10, count = 3;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }

  // A frame other than a delivery: the broker closing the channel or connection, or cancelling the
  // consumer (the queue was deleted).
  void other_frame() {
    amqp_frame_t frame;
    if (int rc = amqp_simple_wait_frame(conn_.get(), &frame); rc != AMQP_STATUS_OK) {
      lost(fmt::format("RabbitMQ connection lost: {}", amqp_error_string2(rc)));
      return;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) return;
    switch (frame.payload.method.id) {
      case AMQP_CHANNEL_CLOSE_METHOD: {
        auto* m = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
        amqp_channel_close_ok_t ok{};
        amqp_send_method(conn_.get(), frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        if (frame.channel == kLagChannel) {
          lag_channel_ = false;
          return;
        }
        closed(m->reply_code, std::string(view(m->reply_text)), "channel");
        return;
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        auto* m = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
        amqp_connection_close_ok_t ok{};
        amqp_send_method(conn_.get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        closed(m->reply_code, std::string(view(m->reply_text)), "connection");
        return;
      }
      case AMQP_BASIC_CANCEL_METHOD:
        lost(fmt::format("RabbitMQ cancelled the consumer of the queue \"{}\" (was the queue deleted?)", s_.queue));
        return;
      default:
        return;  // connection.blocked and the like: nothing to do for a consumer
    }
  }

  void closed(int code, const std::string& text, const char* what) {
    std::string message = fmt::format("RabbitMQ closed the {}: {} {}", what, code, text);
    ErrorKind kind = rabbitmq::classify_close(code, text);
    if (kind == ErrorKind::permanent) kind = ErrorKind::retriable;  // about one message, not the consumer
    conn_.reset();
    if (!error_) error_ = Error{kind, message};
  }

  // The connection is unusable: the broker requeues what this consumer had not acknowledged.
  void lost(std::string message) {
    conn_.reset();
    if (!error_) error_ = retriable(std::move(message));
  }

  SourceSettings s_;
  BuildContext ctx_;
  rabbitmq::ConnectionPtr conn_;
  bool lag_channel_ = false;
  std::uint64_t generation_ = 0;  // one per connection: delivery tags are per channel
  std::optional<Error> error_;    // returned by poll() once the batch gathered before it is out
  std::vector<Message> msgs_;
};

}  // namespace

Result<std::unique_ptr<Source>> make_source(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection c = config.source_section();
  auto where = fmt::format("pipeline \"{}\" source \"rabbitmq\"", config.name);
  auto url = rabbitmq::parse_url(c.text("url"), "source.url");
  if (!url) return url.error();
  SourceSettings s;
  s.url = std::move(*url);
  auto tls = rabbitmq::tls_files(c, s.url, "source");
  if (!tls) return tls.error();
  s.tls = std::move(*tls);
  s.queue = c.text("queue");
  s.batch_size = static_cast<size_t>(std::max(1, config.batch_size));
  if (s.queue.empty()) return fatal(fmt::format("{}: key \"queue\": name the queue to consume", where));
  // Unacknowledged deliveries the broker may send ahead. A batch is acknowledged only after its
  // commit, so by default two batches fit: the next one arrives while the inbox commits this one.
  // (A given prefetch is within 1-65535: the spec.)
  long long prefetch = c.has("prefetch") ? c.value("prefetch").get<long long>() : 2LL * s.batch_size;
  s.prefetch = static_cast<int>(std::min<long long>(prefetch, std::numeric_limits<uint16_t>::max()));
  return std::unique_ptr<Source>(std::make_unique<RabbitmqSource>(std::move(s), ctx));
}

}  // namespace relay::rabbitmq
