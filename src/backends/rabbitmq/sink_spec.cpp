#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "url", .type = string, .description = "amqp://user:pass@host:port/vhost, or amqps:// for TLS (port 5671 by default).", .required = true, .destination = Destination::url},
    {.key = "tls_ca", .type = string, .description = "amqps: CA certificate file (PEM) that verifies the broker; default the system's CA bundle.", .host_file = HostFile::read},
    {.key = "tls_cert", .type = string, .description = "amqps: client certificate file (PEM), with tls_key.", .host_file = HostFile::read},
    {.key = "tls_key", .type = string, .description = "amqps: client private key file (PEM).", .secret = true, .host_file = HostFile::read},
    {.key = "exchange", .type = string, .description = "Exchange to publish to (\"\" is the default exchange).", .default_json = "\"\""},
    {.key = "exchange_type", .type = enumeration, .description = "Type used when declaring the exchange.", .allowed = "direct|fanout|topic|headers", .default_json = "\"topic\""},
    {.key = "routing_key", .type = string, .description = "Routing key template.", .aliases = "routing_key_template", .default_json = "\"{stream_table}.{op}\"", .template_ = true},
    {.key = "declare", .type = boolean, .description = "Declare the exchange (durable) at start; when false it must exist.", .aliases = "declare_exchange", .default_json = "false"},
    {.key = "mandatory", .type = boolean, .description = "Publish with the mandatory flag: a message no queue is bound for comes back and is dead-lettered; false lets the broker drop it.", .default_json = "true"},
};
}  // namespace

const BackendSpec kRabbitmqSinkSpec{Role::sink, "rabbitmq", "RabbitMQ: persistent messages with publisher confirms.", kKeys, "amqp", "rabbitmq_|amqp_"};

}  // namespace relay
