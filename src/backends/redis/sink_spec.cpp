#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kRedisSinkKeys[] = {
    {.key = "url", .type = string, .description = "redis://[user:pass@]host:port/db", .required = true, .secret = false, .destination = Destination::url},
    {.key = "stream_key", .type = string, .description = "Stream key template, e.g. \"pgtrickle:{stream_table}\".", .required = true, .aliases = "stream", .template_ = true},
    {.key = "maxlen", .type = integer, .description = "Trim the stream to about this many entries (MAXLEN ~); 0 keeps all.", .aliases = "max_len", .default_json = "0", .max = kNoLimit},
};
}  // namespace

const BackendSpec kRedisSinkSpec{Role::sink, "redis", "Redis Streams: pipelined XADD.", kRedisSinkKeys, "", "redis_"};

}  // namespace relay
