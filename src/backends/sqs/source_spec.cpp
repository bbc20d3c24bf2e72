#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kSqsSourceKeys[] = {
    {.key = "queue_url", .type = string, .description = "Queue URL; FIFO queues end in .fifo.", .required = true, .destination = Destination::url},
    {.key = "region", .type = string, .description = "AWS region; default AWS_REGION or AWS_DEFAULT_REGION, else read from queue_url."},
    {.key = "endpoint_url", .type = string, .description = "Endpoint override (emulators, VPC endpoints).", .destination = Destination::url},
    {.key = "access_key_id", .type = string, .description = "Default AWS_ACCESS_KEY_ID.", .secret = true},
    {.key = "secret_access_key", .type = string, .description = "Default AWS_SECRET_ACCESS_KEY.", .secret = true},
    {.key = "session_token", .type = string, .description = "Default AWS_SESSION_TOKEN.", .secret = true},
    {.key = "wait_time_seconds", .type = integer, .description = "Long-poll wait of ReceiveMessage (0-20).", .default_json = "20", .max = 20},
    {.key = "visibility_timeout", .type = integer, .description = "Seconds a received message stays hidden; 0 uses the queue's. Extended while a batch takes longer than half of it.", .max = 43200},
    {.key = "max_messages", .type = integer, .description = "Messages per ReceiveMessage (1-10).", .default_json = "10", .min = 1, .max = 10},
    {.key = "max_in_flight", .type = integer, .description = "ReceiveMessage requests in flight at once while the queue has a backlog (1-64); one long poll when it is idle.", .default_json = "8", .min = 1, .max = 64},
};
}  // namespace

const BackendSpec kSqsSourceSpec{Role::source, "sqs", "Amazon SQS long polling; DeleteMessageBatch after the inbox commit.", kSqsSourceKeys, "", "sqs_"};

}  // namespace relay
