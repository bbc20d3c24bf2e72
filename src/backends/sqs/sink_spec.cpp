#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kSqsSinkKeys[] = {
    {.key = "queue_url", .type = string, .description = "Queue URL; FIFO queues end in .fifo.", .required = true, .destination = Destination::url},
    {.key = "region", .type = string, .description = "AWS region; default AWS_REGION or AWS_DEFAULT_REGION."},
    {.key = "endpoint_url", .type = string, .description = "Endpoint override (emulators, VPC endpoints).", .destination = Destination::url},
    {.key = "access_key_id", .type = string, .description = "Default AWS_ACCESS_KEY_ID.", .secret = true},
    {.key = "secret_access_key", .type = string, .description = "Default AWS_SECRET_ACCESS_KEY.", .secret = true},
    {.key = "session_token", .type = string, .description = "Default AWS_SESSION_TOKEN.", .secret = true},
    {.key = "max_in_flight", .type = integer, .description = "SendMessageBatch requests in flight at once: 1 keeps the pipeline's order; more sends messages with different keys (FIFO: different message groups) in parallel, order kept per key/group.", .default_json = "1", .min = 1, .max = 64},
    {.key = "timeout_ms", .type = integer, .description = "Whole-request timeout.", .default_json = "30000", .min = 1, .max = 3600000},
    {.key = "message_group_id", .type = string, .description = "FIFO MessageGroupId template.", .default_json = "\"{stream_table}\"", .template_ = true},
};
}  // namespace

const BackendSpec kSqsSinkSpec{Role::sink, "sqs", "Amazon SQS: SendMessageBatch of 10, FIFO deduplication.", kSqsSinkKeys, "", "sqs_"};

}  // namespace relay
