#include "backends/rabbitmq/connection_spec.h"
#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr std::array<KeySpec, 2> kRabbitmqSourceOwnKeys{{
    {.key = "queue", .type = string, .description = "Queue to consume.", .required = true},
    {.key = "prefetch", .type = integer, .description = "Unacknowledged messages the server may send ahead (basic.qos, 1 to 65535); default twice the pipeline's batch_size.", .aliases = "prefetch_count", .min = 1, .max = 65535},
}};
constexpr auto kRabbitmqSourceKeys = join_keys(rabbitmq::kConnectionKeys, kTlsClientKeys, kRabbitmqSourceOwnKeys);
}  // namespace

const BackendSpec kRabbitmqSourceSpec{Role::source, "rabbitmq", "RabbitMQ queue; manual ack after the inbox commit.", kRabbitmqSourceKeys, "amqp", "rabbitmq_|amqp_"};

}  // namespace relay
