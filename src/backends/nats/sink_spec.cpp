#include "backends/nats/connection_spec.h"
#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr std::array<KeySpec, 3> kNatsSinkOwnKeys{{
    {.key = "stream", .type = string, .description = "JetStream stream that stores the subjects; created when missing if create_stream is true."},
    {.key = "subject", .type = subject, .description = "Subject template, e.g. \"pgtrickle.{stream_table}.{op}\"; wildcards are not allowed when publishing.", .required = true, .aliases = "subject_template", .template_ = true},
    {.key = "create_stream", .type = boolean, .description = "Create the stream when missing, with subjects from the template's fixed prefix.", .default_json = "true"},
}};
constexpr auto kNatsSinkKeys = join_keys(nats::kConnectionKeys, kTlsClientKeys, kNatsSinkOwnKeys);
}  // namespace

const BackendSpec kNatsSinkSpec{Role::sink, "nats", "NATS JetStream: publish with PubAck; Nats-Msg-Id deduplicates.", kNatsSinkKeys, "", "nats_"};

}  // namespace relay
