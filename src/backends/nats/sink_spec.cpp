#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "url", .type = string, .description = "NATS server URL(s), e.g. nats://localhost:4222 (comma-separated for a cluster).", .required = true, .secret = false, .destination = Destination::url_list},
    {.key = "stream", .type = string, .description = "JetStream stream that stores the subjects; created when missing if create_stream is true."},
    {.key = "subject", .type = subject, .description = "Subject template, e.g. \"pgtrickle.{stream_table}.{op}\"; wildcards are not allowed when publishing.", .required = true, .aliases = "subject_template", .template_ = true},
    {.key = "create_stream", .type = boolean, .description = "Create the stream when missing, with subjects from the template's fixed prefix.", .default_json = "true"},
    {.key = "token", .type = string, .description = "Authentication token.", .secret = true},
    {.key = "user", .type = string, .description = "User name for user/password authentication."},
    {.key = "password", .type = string, .description = "Password for user/password authentication.", .secret = true},
    {.key = "creds_file", .type = string, .description = "NATS credentials (.creds) file.", .host_file = HostFile::read},
    {.key = "tls_ca", .type = string, .description = "CA certificate file that verifies the server.", .host_file = HostFile::read},
    {.key = "tls_cert", .type = string, .description = "Client certificate file.", .host_file = HostFile::read},
    {.key = "tls_key", .type = string, .description = "Client private key file.", .secret = true, .host_file = HostFile::read},
};
}  // namespace

const BackendSpec kNatsSinkSpec{Role::sink, "nats", "NATS JetStream: publish with PubAck; Nats-Msg-Id deduplicates.", kKeys, "", "nats_"};

}  // namespace relay
