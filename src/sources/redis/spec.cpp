#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "url", .type = string, .description = "redis://[user:pass@]host:port/db", .required = true},
    {.key = "stream_key", .type = string, .description = "Stream to consume.", .required = true, .aliases = "stream"},
    {.key = "group", .type = string, .description = "Consumer group; created with MKSTREAM when missing.", .required = true, .aliases = "group_name"},
    {.key = "consumer", .type = string, .description = "Consumer name within the group; default the host name.", .aliases = "consumer_name"},
};
}  // namespace

const BackendSpec kRedisSourceSpec{Role::source, "redis", "Redis Streams consumer group; XACK after the inbox commit.", kKeys, "", "redis_"};

}  // namespace relay
