// How to reach and authenticate to a NATS server: the same keys for publishing and consuming (with
// the TLS trio, kTlsClientKeys).
#pragma once

#include "relay/config_spec.h"

namespace relay::nats {

inline constexpr std::array<KeySpec, 5> kConnectionKeys{{
    {.key = "url", .type = ValueType::string, .description = "NATS server URL(s), e.g. nats://localhost:4222 (comma-separated for a cluster).", .required = true, .destination = Destination::url_list},
    {.key = "token", .type = ValueType::string, .description = "Authentication token.", .secret = true},
    {.key = "user", .type = ValueType::string, .description = "User name for user/password authentication."},
    {.key = "password", .type = ValueType::string, .description = "Password for user/password authentication.", .secret = true},
    {.key = "creds_file", .type = ValueType::string, .description = "NATS credentials (.creds) file.", .host_file = HostFile::read},
}};

}  // namespace relay::nats
