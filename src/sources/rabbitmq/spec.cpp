#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "url", .type = string, .description = "amqp://user:pass@host:port/vhost", .required = true},
    {.key = "queue", .type = string, .description = "Queue to consume.", .required = true},
    {.key = "prefetch", .type = integer, .description = "Unacknowledged messages the server may send ahead (basic.qos, 1 to 65535); default twice the pipeline's batch_size.", .aliases = "prefetch_count"},
};
}  // namespace

const BackendSpec kRabbitmqSourceSpec{Role::source, "rabbitmq", "RabbitMQ queue; manual ack after the inbox commit.", kKeys, "amqp", "rabbitmq_|amqp_"};

}  // namespace relay
