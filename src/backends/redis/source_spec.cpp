#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kRedisSourceKeys[] = {
    {.key = "url", .type = string, .description = "redis://[user:pass@]host:port/db", .required = true, .destination = Destination::url},
    {.key = "stream_key", .type = string, .description = "Stream to consume.", .required = true, .aliases = "stream"},
    {.key = "group", .type = string, .description = "Consumer group; created when missing (XGROUP CREATE ... 0 MKSTREAM: from the first entry, so a backlog written before the first start is read).", .required = true, .aliases = "group_name"},
    {.key = "consumer", .type = string, .description = "Consumer name within the group; default the host name.", .aliases = "consumer_name"},
    {.key = "claim_idle_ms", .type = integer, .description = "Entries pending this long for another consumer of the group (a dead relay) are claimed with XAUTOCLAIM.", .default_json = "30000", .min = 1},
};
}  // namespace

const BackendSpec kRedisSourceSpec{Role::source, "redis", "Redis Streams consumer group; XACK after the inbox commit.", kRedisSourceKeys, "", "redis_"};

}  // namespace relay
