#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "url", .type = string, .description = "NATS server URL(s).", .required = true, .destination = Destination::url_list},
    {.key = "stream", .type = string, .description = "JetStream stream to consume.", .required = true},
    {.key = "consumer", .type = string, .description = "Durable pull consumer; created when missing.", .required = true, .aliases = "durable_name"},
    {.key = "filter_subject", .type = string, .description = "Only messages on this subject (wildcards allowed)."},
    {.key = "ack_wait_ms", .type = integer, .description = "How long the server waits for an ack before redelivering.", .default_json = "30000", .min = 1},
    {.key = "max_deliver", .type = integer, .description = "Deliveries before the server gives up on a message (-1: unlimited).", .default_json = "-1", .min = -1},
    {.key = "token", .type = string, .description = "Authentication token.", .secret = true},
    {.key = "user", .type = string, .description = "User name."},
    {.key = "password", .type = string, .description = "Password.", .secret = true},
    {.key = "creds_file", .type = string, .description = "NATS credentials (.creds) file.", .host_file = HostFile::read},
    {.key = "tls_ca", .type = string, .description = "CA certificate file.", .host_file = HostFile::read},
    {.key = "tls_cert", .type = string, .description = "Client certificate file.", .host_file = HostFile::read},
    {.key = "tls_key", .type = string, .description = "Client private key file.", .secret = true, .host_file = HostFile::read},
};
}  // namespace

const BackendSpec kNatsSourceSpec{Role::source, "nats", "NATS JetStream durable pull consumer; acked after the inbox commit.", kKeys, "", "nats_"};

}  // namespace relay
