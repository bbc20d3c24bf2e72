#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "url", .type = string, .description = "amqp://user:pass@host:port/vhost", .required = true},
    {.key = "queue", .type = string, .description = "Queue to consume.", .required = true},
    {.key = "prefetch", .type = integer, .description = "Unacknowledged messages the server may send ahead.", .aliases = "prefetch_count", .default_json = "100"},
};
}  // namespace

const BackendSpec kRabbitmqSourceSpec{Role::source, "rabbitmq", "RabbitMQ queue; manual ack after the inbox commit.", kKeys, "amqp", "rabbitmq_|amqp_"};

}  // namespace relay
