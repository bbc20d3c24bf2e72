// RabbitMQ sink: persistent messages on a confirm-mode channel. The whole batch is published, then
// every basic.ack / basic.nack (with `multiple`) is collected; a message is delivered only once the
// broker confirmed it (for persistent messages on durable queues: written to disk).
#include <amqp.h>

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "config/pipeline_config.h"
#include "core/backend_factories.h"
#include "core/build_context.h"
#include "sinks/rabbitmq/amqp_connection.h"
#include "sinks/rabbitmq/rabbitmq_encode.h"

namespace relay {
namespace {

using amqp_wire::bytes;
using amqp_wire::ConnectionPtr;
using amqp_wire::to_timeval;
using amqp_wire::view;

constexpr amqp_channel_t kChannel = 1;
constexpr int kFrameMax = 131072;  // RabbitMQ's default; bodies are split into frames of this size
constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr auto kMaxConfirmWait = std::chrono::seconds(15);

struct Settings {
  amqp_wire::Url url;
  amqp_wire::TlsFiles tls;
  std::string exchange, exchange_type;
  bool declare = false;
  bool mandatory = true;
};

class RabbitmqSink final : public Sink {
 public:
  RabbitmqSink(Settings s, const BuildContext& ctx) : s_(std::move(s)), ctx_(ctx) {}
  ~RabbitmqSink() override { conn_.reset(); }

  Status start() override {
    conn_.reset();
    if (!fatal_.empty()) return fatal(fatal_);
    // No heartbeat (see open_connection): a dead peer shows as a confirm timeout instead.
    auto opened = amqp_wire::open_connection(s_.url, s_.tls, "sink.url", kChannel, kFrameMax, kConnectTimeout);
    if (!opened) return opened.error();
    ConnectionPtr c = std::move(*opened);
    amqp_confirm_select(c.get(), kChannel);
    if (auto s = check(c.get(), amqp_get_rpc_reply(c.get()), "confirm.select"); !s) return s;
    if (!s_.exchange.empty()) {
      // declare = false still checks (passively) that the exchange exists, so a typo is reported
      // at start and not as a failure of every message.
      amqp_exchange_declare(c.get(), kChannel, bytes(s_.exchange), bytes(s_.exchange_type), !s_.declare, 1, 0, 0, amqp_empty_table);
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

  void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) override {
    const size_t n = batch.size();
    if (!conn_) {
      if (auto s = start(); !s) {
        for (auto& o : outcomes) o = {Outcome::retriable, s.error().message};
        return;
      }
    }
    for (auto& o : outcomes) o = {Outcome::retriable, "RabbitMQ did not confirm the message"};
    sent_.clear();      // batch index of each published message, in delivery-tag order
    returned_.assign(n, {});
    const uint64_t first_tag = next_tag_;

    for (size_t i = 0; i < n; ++i) {
      const Message& m = batch[i];
      amqp_wire::encode(m, pub_);
      int rc = amqp_basic_publish(conn_.get(), kChannel, bytes(s_.exchange), bytes(m.routes[0]), s_.mandatory, 0,
                                  &pub_.props, bytes(m.body));
      if (rc == AMQP_STATUS_OK) {
        sent_.push_back(i);
        ++next_tag_;
        continue;
      }
      std::string error = fmt::format("RabbitMQ: publishing failed: {}", amqp_error_string2(rc));
      if (amqp_wire::classify_status(rc) == ErrorKind::permanent) {
        outcomes[i] = {Outcome::rejected, std::move(error)};  // not sent: it takes no delivery tag
        continue;
      }
      // The connection is gone: nothing of this batch can be confirmed any more.
      return drop_connection(outcomes, error);
    }

    // Collect the confirms. Tags are consecutive from first_tag over sent_.
    size_t unresolved = sent_.size(), low = 0, return_cursor = 0;
    auto resolve = [&](uint64_t tag, bool multiple, bool ack) {
      if (tag < first_tag) return;
      size_t pos = static_cast<size_t>(tag - first_tag);
      if (pos >= sent_.size()) return;
      for (size_t p = multiple ? low : pos; p <= pos; ++p) {
        if (done_[p]) continue;
        size_t i = sent_[p];
        if (!ack) outcomes[i] = {Outcome::retriable, "RabbitMQ refused the message (basic.nack); sending it again"};
        else if (!returned_[i].empty()) outcomes[i] = {Outcome::rejected, std::move(returned_[i])};
        else outcomes[i] = {Outcome::delivered, {}};
        done_[p] = true;
        --unresolved;
      }
      while (low < sent_.size() && done_[low]) ++low;
    };
    done_.assign(sent_.size(), false);
    Deadline until = std::min(deadline, Clock::now() + kMaxConfirmWait);

    while (unresolved > 0) {
      amqp_maybe_release_buffers(conn_.get());
      amqp_frame_t frame;
      timeval tv = to_timeval(std::chrono::duration_cast<std::chrono::microseconds>(until - Clock::now()));
      int rc = Clock::now() >= until ? AMQP_STATUS_TIMEOUT : amqp_simple_wait_frame_noblock(conn_.get(), &frame, &tv);
      if (rc == AMQP_STATUS_TIMEOUT) return drop_connection(outcomes, "RabbitMQ: no confirm within the deadline");
      if (rc != AMQP_STATUS_OK) return drop_connection(outcomes, fmt::format("RabbitMQ connection lost: {}", amqp_error_string2(rc)));
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
          auto* a = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
          resolve(a->delivery_tag, a->multiple, true);
          break;
        }
        case AMQP_BASIC_NACK_METHOD: {
          auto* a = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
          resolve(a->delivery_tag, a->multiple, false);
          break;
        }
        case AMQP_BASIC_RETURN_METHOD: {
          // Unroutable with the mandatory flag: the broker returns it, then acks it. The return
          // names no delivery tag; the returned message's message-id (the dedup key) says which.
          auto* r = static_cast<amqp_basic_return_t*>(frame.payload.method.decoded);
          std::string why = fmt::format("RabbitMQ returned the message: {} {} (no queue is bound for routing key \"{}\" on exchange \"{}\")",
                                        r->reply_code, view(r->reply_text), view(r->routing_key), view(r->exchange));
          amqp_message_t msg;
          amqp_rpc_reply_t rr = amqp_read_message(conn_.get(), frame.channel, &msg, 0);
          if (rr.reply_type != AMQP_RESPONSE_NORMAL) return drop_connection(outcomes, "RabbitMQ connection lost while reading a returned message");
          std::string_view id = msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG ? view(msg.properties.message_id) : "";
          for (size_t p = return_cursor; p < sent_.size(); ++p) {
            if (batch[sent_[p]].dedup_key != id) continue;
            returned_[sent_[p]] = why;
            return_cursor = p + 1;
            break;
          }
          amqp_destroy_message(&msg);
          break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
          auto* c = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
          amqp_channel_close_ok_t ok{};
          amqp_send_method(conn_.get(), kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
          return broker_closed(batch, outcomes, c->reply_code, std::string(view(c->reply_text)), "channel");
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
          auto* c = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
          amqp_connection_close_ok_t ok{};
          amqp_send_method(conn_.get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
          return broker_closed(batch, outcomes, c->reply_code, std::string(view(c->reply_text)), "connection");
        }
        case AMQP_CONNECTION_BLOCKED_METHOD:
          ctx_.log->warn("RabbitMQ blocks publishing (a memory or disk alarm); waiting.", {});
          break;
        default:
          break;
      }
    }
  }

  bool healthy() override { return conn_ != nullptr && fatal_.empty(); }

  void stop(Deadline deadline) override {
    if (!conn_) return;
    timeval tv = to_timeval(std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()));
    amqp_set_rpc_timeout(conn_.get(), &tv);
    amqp_channel_close(conn_.get(), kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_.get(), AMQP_REPLY_SUCCESS);
    conn_.reset();
  }

 private:
  Status check(amqp_connection_state_t c, const amqp_rpc_reply_t& r, const std::string& what) {
    return amqp_wire::check_reply(c, kChannel, r, what);
  }

  // The connection is unusable: every message not yet settled is sent again on a new one.
  void drop_connection(std::span<Outcome> outcomes, const std::string& error) {
    conn_.reset();
    for (auto& o : outcomes)
      if (o.kind == Outcome::retriable) o.error = error;
  }

  // The broker closed the channel or the connection while the batch was in flight.
  void broker_closed(std::span<const Message> batch, std::span<Outcome> outcomes, int code, const std::string& text,
                     const char* what) {
    std::string error = fmt::format("RabbitMQ closed the {}: {} {}", what, code, text);
    ErrorKind kind = amqp_wire::classify_close(code, text);
    if (kind == ErrorKind::fatal && fatal_.empty()) fatal_ = error;
    if (kind == ErrorKind::permanent) {
      // The broker reads in order: the first unconfirmed message of the named size is the culprit.
      long long size = amqp_wire::refused_size(text);
      for (size_t p = 0; p < sent_.size(); ++p) {
        size_t i = sent_[p];
        if (done_[p] || static_cast<long long>(batch[i].body.size()) != size) continue;
        outcomes[i] = {Outcome::rejected, error};
        break;
      }
    }
    drop_connection(outcomes, error);
  }

  Settings s_;
  BuildContext ctx_;
  ConnectionPtr conn_;
  uint64_t next_tag_ = 1;
  std::string fatal_;  // a configuration problem met while sending; start() reports it
  amqp_wire::Publish pub_;
  std::vector<size_t> sent_;
  std::vector<std::string> returned_;
  std::vector<bool> done_;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_rabbitmq_sink(const PipelineConfig& config, const BuildContext& ctx) {
  const auto& c = config.sink();
  auto url = amqp_wire::parse_url(c.at("url").get<std::string>());
  if (!url) return url.error();
  Settings s;
  s.url = std::move(*url);
  auto tls = amqp_wire::tls_files(c, s.url, "sink");
  if (!tls) return tls.error();
  s.tls = std::move(*tls);
  s.exchange = c.value("exchange", "");
  s.exchange_type = c.value("exchange_type", "topic");
  s.declare = c.value("declare", false);
  s.mandatory = c.value("mandatory", true);
  if (s.declare && s.exchange.empty())
    return fatal("sink.declare: the default exchange (sink.exchange = \"\") cannot be declared; name an exchange or set declare = false");
  if (s.exchange.rfind("amq.", 0) == 0 && s.declare)
    return fatal(fmt::format("sink.declare: \"{}\" is a built-in exchange (amq.*) and cannot be declared; set declare = false", s.exchange));
  return std::unique_ptr<Sink>(std::make_unique<RabbitmqSink>(std::move(s), ctx));
}

}  // namespace relay
