#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "listen", .type = string, .description = "Address to listen on, host:port.", .aliases = "bind|listen_addr", .default_json = "\"0.0.0.0:8080\""},
    {.key = "path", .type = string, .description = "Path accepting POSTed events.", .default_json = "\"/events\""},
    {.key = "bearer_token", .type = string, .description = "Required Authorization: Bearer token.", .secret = true},
    {.key = "hmac_secret", .type = string, .description = "Key verifying the HMAC-SHA256 signature header.", .secret = true},
    {.key = "max_body_bytes", .type = integer, .description = "Larger requests get 413.", .default_json = "1048576"},
};
}  // namespace

const BackendSpec kHttpSourceSpec{Role::source, "http", "HTTP receiver; answers 2xx only after the inbox commit.", kKeys, "webhook", "webhook_|http_"};

}  // namespace relay
