// RabbitMQ sink: persistent messages on a confirm-mode channel. Batches are published as they come
// (up to kBatchesInFlight unconfirmed) and every basic.ack / basic.nack (with `multiple`) is matched
// to its batch by delivery tag; a message is delivered only once the broker confirmed it (for
// persistent messages on durable queues: written to disk).
#include <amqp.h>
#include <poll.h>

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/build_context.h"
#include "backends/rabbitmq/amqp_connection.h"
#include "backends/rabbitmq/rabbitmq_encode.h"
#include "util/header_value.h"

namespace relay::rabbitmq {
namespace {

using rabbitmq::bytes;
using rabbitmq::ConnectionPtr;
using rabbitmq::to_timeval;
using rabbitmq::view;

constexpr amqp_channel_t kPublishChannel = 1;
constexpr auto kMaxConfirmWait = std::chrono::seconds(15);
constexpr size_t kBatchesInFlight = 4;

struct SinkSettings {
  rabbitmq::Url url;
  rabbitmq::TlsFiles tls;
  std::string exchange, exchange_type;
  bool declare = false;
  bool mandatory = true;
};

class RabbitmqSink final : public Sink {
 public:
  RabbitmqSink(SinkSettings s, const BuildContext& ctx) : s_(std::move(s)), ctx_(ctx) {}
  ~RabbitmqSink() override { conn_.reset(); }

  Status start() override {
    conn_.reset();
    if (!fatal_.empty()) return fatal(fatal_);
    // No heartbeat (see open_connection): a dead peer shows as a confirm timeout instead.
    auto opened = rabbitmq::open_connection(s_.url, s_.tls, "sink.url", kPublishChannel);
    if (!opened) return opened.error();
    ConnectionPtr c = std::move(*opened);
    amqp_confirm_select(c.get(), kPublishChannel);
    if (auto s = check(c.get(), amqp_get_rpc_reply(c.get()), "confirm.select"); !s) return s;
    if (!s_.exchange.empty()) {
      // declare = false still checks (passively) that the exchange exists, so a typo is reported
      // at start and not as a failure of every message.
      amqp_exchange_declare(c.get(), kPublishChannel, bytes(s_.exchange), bytes(s_.exchange_type), !s_.declare, 1, 0, 0, amqp_empty_table);
      std::string what = s_.declare ? fmt::format("declaring the exchange \"{}\" (type {}, durable)", s_.exchange, s_.exchange_type)
                                    : fmt::format("the exchange \"{}\" (set sink.declare = true to create it)", s_.exchange);
      if (auto s = check(c.get(), amqp_get_rpc_reply(c.get()), what); !s) return s;
    }
    conn_ = std::move(c);
    next_tag_ = 1;
    ctx_.log->info("Connected to RabbitMQ.", {{"host", s_.url.host}, {"port", std::to_string(s_.url.port)},
                                             {"vhost", s_.url.vhost}, {"exchange", s_.exchange}});
    return {};
  }

  // Up to this many batches wait for their confirms at once: the next batch is published meanwhile.
  size_t batches_in_flight() const override { return kBatchesInFlight; }

  void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) override {
    publish(batch);
    if (collect(outcomes, deadline, {})) return;
    drop_connection("RabbitMQ: no confirm within the deadline");
    collect(outcomes, deadline, {});
  }

  void publish(std::span<const Message> batch) override {
    Published& p = published_.emplace_back();
    p.batch = batch;
    p.outcomes.assign(batch.size(), {Outcome::retriable, "RabbitMQ did not confirm the message"});
    p.confirm_by = Clock::now() + kMaxConfirmWait;
    p.publishing = true;
    if (!conn_) {
      if (auto s = start(); !s) return drop_connection(s.error().message);
    }
    p.first_tag = next_tag_;
    for (size_t i = 0; i < batch.size(); ++i) {
      const Message& m = batch[i];
      rabbitmq::encode(m, pub_);
      int rc = amqp_basic_publish(conn_.get(), kPublishChannel, bytes(s_.exchange), bytes(m.routes[0]), s_.mandatory, 0,
                                  &pub_.props, bytes(m.body));
      if (rc == AMQP_STATUS_OK) {
        p.sent.push_back(i);
        p.confirmed.push_back(false);
        ++p.unconfirmed;
        ++next_tag_;
        continue;
      }
      std::string error = fmt::format("RabbitMQ: publishing failed: {}", amqp_error_string2(rc));
      if (rabbitmq::classify_status(rc) == ErrorKind::permanent) {
        p.outcomes[i] = {Outcome::rejected, std::move(error)};  // not sent: it takes no delivery tag
        continue;
      }
      // The connection is gone: nothing in flight can be confirmed any more.
      return drop_connection(error);
    }
    p.publishing = false;
  }

  bool collect(std::span<Outcome> outcomes, Deadline deadline, std::span<const int> wake_fds) override {
    while (!published_.empty() && published_.front().unconfirmed > 0) {
      const Published& oldest = published_.front();
      if (Clock::now() >= oldest.confirm_by) {
        drop_connection(fmt::format("RabbitMQ: no confirm within {} s", kMaxConfirmWait.count()));
        break;
      }
      if (!amqp_frames_enqueued(conn_.get()) && !amqp_data_in_buffer(conn_.get())) {
        switch (wait_readable(std::min(deadline, oldest.confirm_by), wake_fds)) {
          case Wait::woken:
            return false;
          case Wait::timed_out:
            if (Clock::now() >= deadline) return false;
            continue;
          case Wait::readable:
            break;
        }
      }
      read_frame();
    }
    if (published_.empty()) {
      for (auto& o : outcomes) o = {Outcome::retriable, "RabbitMQ: the batch was not published"};
      return true;
    }
    std::move(published_.front().outcomes.begin(), published_.front().outcomes.end(), outcomes.begin());
    published_.pop_front();
    return true;
  }

  // Their confirms may still come: a new connection starts the delivery tags afresh.
  void forget() override {
    bool unconfirmed = std::any_of(published_.begin(), published_.end(), [](const Published& p) { return p.unconfirmed > 0; });
    published_.clear();
    if (unconfirmed) conn_.reset();
  }

  bool healthy() override { return conn_ != nullptr && fatal_.empty(); }

  void stop(Deadline deadline) override {
    if (!conn_) return;
    timeval tv = to_timeval(std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()));
    amqp_set_rpc_timeout(conn_.get(), &tv);
    amqp_channel_close(conn_.get(), kPublishChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_.get(), AMQP_REPLY_SUCCESS);
    conn_.reset();
  }

 private:
  Status check(amqp_connection_state_t c, const amqp_rpc_reply_t& r, const std::string& what) {
    return rabbitmq::check_reply(c, kPublishChannel, r, what);
  }

  enum class Wait { readable, woken, timed_out };

  // Until the broker's socket or one of `wake_fds` is readable, or the deadline.
  Wait wait_readable(Deadline until, std::span<const int> wake_fds) {
    pollfd fds[4] = {{amqp_get_sockfd(conn_.get()), POLLIN, 0}};
    size_t n = 1;
    for (int fd : wake_fds)
      if (n < 4) fds[n++] = {fd, POLLIN, 0};
    auto left = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(until - Clock::now()).count());
    timespec ts{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
    if (::ppoll(fds, n, &ts, nullptr) <= 0) return Wait::timed_out;
    for (size_t i = 1; i < n; ++i)
      if (fds[i].revents) return Wait::woken;
    return Wait::readable;
  }

  // Reads one frame (or what has arrived of it) and applies it to the batches in flight.
  void read_frame() {
    amqp_maybe_release_buffers(conn_.get());
    amqp_frame_t frame;
    timeval now{0, 0};  // the socket was readable: read what is there, do not wait
    int rc = amqp_simple_wait_frame_noblock(conn_.get(), &frame, &now);
    if (rc == AMQP_STATUS_TIMEOUT) return;  // part of a frame so far
    if (rc != AMQP_STATUS_OK) return drop_connection(fmt::format("RabbitMQ connection lost: {}", amqp_error_string2(rc)));
    if (frame.frame_type != AMQP_FRAME_METHOD) return;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        auto* a = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        return confirm(a->delivery_tag, a->multiple, true);
      }
      case AMQP_BASIC_NACK_METHOD: {
        auto* a = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
        return confirm(a->delivery_tag, a->multiple, false);
      }
      case AMQP_BASIC_RETURN_METHOD: {
        // Unroutable with the mandatory flag: the broker returns it, then acks it. The return
        // names no delivery tag; the returned message's message-id (the dedup key) says which.
        auto* r = static_cast<amqp_basic_return_t*>(frame.payload.method.decoded);
        std::string why = fmt::format("RabbitMQ returned the message: {} {} (no queue is bound for routing key \"{}\" on exchange \"{}\")",
                                      r->reply_code, view(r->reply_text), view(r->routing_key), view(r->exchange));
        amqp_message_t msg;
        amqp_rpc_reply_t rr = amqp_read_message(conn_.get(), frame.channel, &msg, 0);
        if (rr.reply_type != AMQP_RESPONSE_NORMAL) return drop_connection("RabbitMQ connection lost while reading a returned message");
        std::string_view id = msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG ? view(msg.properties.message_id) : "";
        mark_returned(id, std::move(why));
        amqp_destroy_message(&msg);
        return;
      }
      case AMQP_CHANNEL_CLOSE_METHOD: {
        auto* c = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
        amqp_channel_close_ok_t ok{};
        amqp_send_method(conn_.get(), kPublishChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        return broker_closed(c->reply_code, std::string(view(c->reply_text)), "channel");
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        auto* c = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
        amqp_connection_close_ok_t ok{};
        amqp_send_method(conn_.get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        return broker_closed(c->reply_code, std::string(view(c->reply_text)), "connection");
      }
      case AMQP_CONNECTION_BLOCKED_METHOD:
        ctx_.log->warn("RabbitMQ blocks publishing (a memory or disk alarm); waiting.", {});
        return;
      default:
        return;
    }
  }

  // basic.ack / basic.nack of `tag` (and, with `multiple`, of every earlier tag).
  void confirm(uint64_t tag, bool multiple, bool ack) {
    for (auto& p : published_) {
      if (p.unconfirmed == 0) continue;
      if (tag < p.first_tag) break;  // later batches have later tags
      const uint64_t last = p.first_tag + p.sent.size() - 1;
      if (!multiple && tag > last) continue;
      const size_t high = static_cast<size_t>(std::min(tag, last) - p.first_tag);
      for (size_t k = multiple ? p.low : high; k <= high; ++k) {
        if (p.confirmed[k]) continue;
        size_t i = p.sent[k];
        if (!ack) p.outcomes[i] = {Outcome::retriable, "RabbitMQ refused the message (basic.nack); sending it again"};
        else if (auto r = p.returned.find(i); r != p.returned.end()) p.outcomes[i] = {Outcome::rejected, std::move(r->second)};
        else p.outcomes[i] = {Outcome::delivered, {}};
        p.confirmed[k] = true;
        --p.unconfirmed;
      }
      while (p.low < p.sent.size() && p.confirmed[p.low]) ++p.low;
    }
  }

  // Returns come in publish order: the first unconfirmed message with this id from where the last
  // return was found.
  void mark_returned(std::string_view id, std::string why) {
    std::string buf;  // the message-id as encode() wrote it (header-safe)
    for (auto& p : published_) {
      if (p.unconfirmed == 0) continue;
      for (size_t k = p.return_cursor; k < p.sent.size(); ++k) {
        if (p.confirmed[k] || util::header_safe(p.batch[p.sent[k]].dedup_key, buf) != id) continue;
        p.returned[p.sent[k]] = std::move(why);
        p.return_cursor = k + 1;
        return;
      }
    }
  }

  // The connection is unusable: every message in flight and not confirmed is sent again on a new one.
  void drop_connection(const std::string& error) {
    conn_.reset();
    for (auto& p : published_) {
      if (p.unconfirmed == 0 && !p.publishing) continue;
      for (auto& o : p.outcomes)
        if (o.kind == Outcome::retriable) o.error = error;
      p.unconfirmed = 0;
      p.publishing = false;
    }
  }

  // The broker closed the channel or the connection while batches were in flight.
  void broker_closed(int code, const std::string& text, const char* what) {
    std::string error = fmt::format("RabbitMQ closed the {}: {} {}", what, code, text);
    ErrorKind kind = rabbitmq::classify_close(code, text);
    if (kind == ErrorKind::fatal && fatal_.empty()) fatal_ = error;
    if (kind == ErrorKind::permanent) reject_first_unconfirmed(rabbitmq::refused_size(text), error);
    drop_connection(error);
  }

  // The broker reads in order: the first unconfirmed message of the size it refused is the culprit.
  void reject_first_unconfirmed(long long size, const std::string& error) {
    for (auto& p : published_) {
      for (size_t k = 0; k < p.sent.size(); ++k) {
        size_t i = p.sent[k];
        if (p.confirmed[k] || static_cast<long long>(p.batch[i].body.size()) != size) continue;
        p.outcomes[i] = {Outcome::rejected, error};
        return;
      }
    }
  }

  // One batch handed to publish() whose outcomes collect() has not returned yet.
  struct Published {
    std::span<const Message> batch;
    std::vector<Outcome> outcomes;      // per message
    std::map<size_t, std::string> returned;  // batch index → why the broker returned it (unroutable; rare)
    std::vector<size_t> sent;           // the batch index of each published message, in tag order
    std::vector<bool> confirmed;        // per entry of `sent`
    uint64_t first_tag = 0;             // tags are consecutive over `sent`
    size_t unconfirmed = 0, low = 0, return_cursor = 0;
    Deadline confirm_by;                // no confirm by then: the connection is presumed dead
    bool publishing = false;
  };

  SinkSettings s_;
  BuildContext ctx_;
  ConnectionPtr conn_;
  uint64_t next_tag_ = 1;
  std::string fatal_;  // a configuration problem met while sending; start() reports it
  rabbitmq::Publish pub_;
  std::deque<Published> published_;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_sink(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection c = config.sink_section();
  auto url = rabbitmq::parse_url(c.text("url"));
  if (!url) return url.error();
  SinkSettings s;
  s.url = std::move(*url);
  auto tls = rabbitmq::tls_files(c, s.url, "sink");
  if (!tls) return tls.error();
  s.tls = std::move(*tls);
  s.exchange = c.text("exchange");
  s.exchange_type = c.text("exchange_type");
  s.declare = c.flag("declare");
  s.mandatory = c.flag("mandatory");
  if (s.declare && s.exchange.empty())
    return fatal("sink.declare: the default exchange (sink.exchange = \"\") cannot be declared; name an exchange or set declare = false");
  if (s.exchange.rfind("amq.", 0) == 0 && s.declare)
    return fatal(fmt::format("sink.declare: \"{}\" is a built-in exchange (amq.*) and cannot be declared; set declare = false", s.exchange));
  return std::unique_ptr<Sink>(std::make_unique<RabbitmqSink>(std::move(s), ctx));
}

}  // namespace relay::rabbitmq
