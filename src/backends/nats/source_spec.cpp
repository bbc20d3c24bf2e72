#include "backends/nats/connection_spec.h"
#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr std::array<KeySpec, 5> kNatsSourceOwnKeys{{
    {.key = "stream", .type = string, .description = "JetStream stream to consume.", .required = true},
    {.key = "consumer", .type = string, .description = "Durable pull consumer; created when missing.", .required = true, .aliases = "durable_name"},
    {.key = "filter_subject", .type = string, .description = "Only messages on this subject (wildcards allowed)."},
    {.key = "ack_wait_ms", .type = integer, .description = "How long the server waits for an ack before redelivering.", .default_json = "30000", .min = 1},
    {.key = "max_deliver", .type = integer, .description = "Deliveries before the server gives up on a message (-1: unlimited).", .default_json = "-1", .min = -1},
}};
constexpr auto kNatsSourceKeys = join_keys(nats::kConnectionKeys, kTlsClientKeys, kNatsSourceOwnKeys);
}  // namespace

const BackendSpec kNatsSourceSpec{Role::source, "nats", "NATS JetStream durable pull consumer; acked after the inbox commit.", kNatsSourceKeys, "", "nats_"};

}  // namespace relay
