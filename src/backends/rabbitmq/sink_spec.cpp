#include "backends/rabbitmq/connection_spec.h"
#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr std::array<KeySpec, 5> kRabbitmqSinkOwnKeys{{
    {.key = "exchange", .type = string, .description = "Exchange to publish to (\"\" is the default exchange).", .default_json = "\"\""},
    {.key = "exchange_type", .type = enumeration, .description = "Type used when declaring the exchange.", .allowed = "direct|fanout|topic|headers", .default_json = "\"topic\""},
    {.key = "routing_key", .type = string, .description = "Routing key template.", .aliases = "routing_key_template", .default_json = "\"{stream_table}.{op}\"", .template_ = true},
    {.key = "declare", .type = boolean, .description = "Declare the exchange (durable) at start; when false it must exist.", .aliases = "declare_exchange", .default_json = "false"},
    {.key = "mandatory", .type = boolean, .description = "Publish with the mandatory flag: a message no queue is bound for comes back and is dead-lettered; false lets the broker drop it.", .default_json = "true"},
}};
constexpr auto kRabbitmqSinkKeys = join_keys(rabbitmq::kConnectionKeys, kTlsClientKeys, kRabbitmqSinkOwnKeys);
}  // namespace

const BackendSpec kRabbitmqSinkSpec{Role::sink, "rabbitmq", "RabbitMQ: persistent messages with publisher confirms.", kRabbitmqSinkKeys, "amqp", "rabbitmq_|amqp_"};

}  // namespace relay
