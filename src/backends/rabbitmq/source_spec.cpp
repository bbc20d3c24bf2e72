#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "url", .type = string, .description = "amqp://user:pass@host:port/vhost, or amqps:// for TLS (port 5671 by default).", .required = true, .destination = Destination::url},
    {.key = "tls_ca", .type = string, .description = "amqps: CA certificate file (PEM) that verifies the broker; default the system's CA bundle.", .host_file = HostFile::read},
    {.key = "tls_cert", .type = string, .description = "amqps: client certificate file (PEM), with tls_key.", .host_file = HostFile::read},
    {.key = "tls_key", .type = string, .description = "amqps: client private key file (PEM).", .secret = true, .host_file = HostFile::read},
    {.key = "queue", .type = string, .description = "Queue to consume.", .required = true},
    {.key = "prefetch", .type = integer, .description = "Unacknowledged messages the server may send ahead (basic.qos, 1 to 65535); default twice the pipeline's batch_size.", .aliases = "prefetch_count", .min = 1, .max = 65535},
};
}  // namespace

const BackendSpec kRabbitmqSourceSpec{Role::source, "rabbitmq", "RabbitMQ queue; manual ack after the inbox commit.", kKeys, "amqp", "rabbitmq_|amqp_"};

}  // namespace relay
