// How to reach a RabbitMQ broker: the same keys for publishing and consuming (with the TLS trio,
// kTlsClientKeys, for amqps://).
#pragma once

#include "relay/config_spec.h"

namespace relay::rabbitmq {

inline constexpr std::array<KeySpec, 1> kConnectionKeys{{
    {.key = "url", .type = ValueType::string, .description = "amqp://user:pass@host:port/vhost, or amqps:// for TLS (port 5671 by default).", .required = true, .destination = Destination::url},
}};

}  // namespace relay::rabbitmq
