// Opening a RabbitMQ connection and judging the broker's replies: shared by the RabbitMQ sink and
// the RabbitMQ source (src/backends/rabbitmq/).
#pragma once

#include <amqp.h>
#include <sys/time.h>

#include "config/config_section.h"
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "relay/result.h"
#include "backends/rabbitmq/rabbitmq_encode.h"

namespace relay::rabbitmq {

struct ConnectionDeleter {
  void operator()(amqp_connection_state_t c) const { amqp_destroy_connection(c); }
};
using ConnectionPtr = std::unique_ptr<amqp_connection_state_t_, ConnectionDeleter>;

// At least 1 ms: rabbitmq-c reads a zero timeval as "do not wait at all".
timeval to_timeval(std::chrono::microseconds d);

// The tls_ca, tls_cert and tls_key keys of a sink's or source's config `c` (`role`: "sink",
// "source"): files must be readable, a certificate needs its key, and they need amqps://.
Result<TlsFiles> tls_files(const ConfigSection& c, const Url& url, std::string_view role);

// Connects (within 5 s; over TLS for amqps://, verifying the broker's certificate and host name),
// logs in with RabbitMQ's default frame size (bodies are split into frames of 128 KiB) and opens
// `channel`. `key` names the url's config key in errors ("sink.url", "source.url"). RPCs time out
// after 10 s.
Result<ConnectionPtr> open_connection(const Url& url, const TlsFiles& tls, std::string_view key, amqp_channel_t channel);

// The result of an RPC on `channel`. A channel.close or connection.close from the broker is answered
// (close-ok) and classified by classify_close; anything the broker refuses while setting up is the
// same for every message, so a permanent refusal is fatal here too.
Status check_reply(amqp_connection_state_t c, amqp_channel_t channel, const amqp_rpc_reply_t& r, const std::string& what);

}  // namespace relay::rabbitmq
