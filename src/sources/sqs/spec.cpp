#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "queue_url", .type = string, .description = "Queue URL.", .required = true},
    {.key = "region", .type = string, .description = "AWS region."},
    {.key = "endpoint_url", .type = string, .description = "Endpoint override."},
    {.key = "access_key_id", .type = string, .description = "Default AWS_ACCESS_KEY_ID.", .secret = true},
    {.key = "secret_access_key", .type = string, .description = "Default AWS_SECRET_ACCESS_KEY.", .secret = true},
    {.key = "session_token", .type = string, .description = "Default AWS_SESSION_TOKEN.", .secret = true},
    {.key = "wait_time_seconds", .type = integer, .description = "Long-poll wait.", .default_json = "20"},
    {.key = "visibility_timeout", .type = integer, .description = "Seconds a received message stays hidden; 0 uses the queue's."},
    {.key = "max_messages", .type = integer, .description = "Messages per ReceiveMessage (1-10).", .default_json = "10"},
};
}  // namespace

const BackendSpec kSqsSourceSpec{Role::source, "sqs", "Amazon SQS long polling; DeleteMessageBatch after the inbox commit.", kKeys, "", "sqs_"};

}  // namespace relay
