#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kHttpSourceKeys[] = {
    {.key = "listen", .type = string, .description = "Address to listen on, host:port.", .aliases = "bind|listen_addr", .default_json = "\"0.0.0.0:8080\""},
    {.key = "path", .type = string, .description = "Path accepting POSTed events; GET on it answers 200 while the receiver accepts (a probe).", .default_json = "\"/events\""},
    {.key = "bearer_token", .type = string, .description = "Required Authorization: Bearer token. Set it and/or hmac_secret: requests are never accepted unauthenticated.", .secret = true},
    {.key = "hmac_secret", .type = string, .description = "Key verifying the webhook sink's X-Pgtrickle-Signature (t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">).", .secret = true},
    {.key = "signature_tolerance_s", .type = integer, .description = "Largest difference in seconds between a signature's timestamp and the receiver's clock (replay protection); older gets 403.", .default_json = "300", .min = 1, .max = 86400},
    {.key = "max_body_bytes", .type = integer, .description = "Larger requests get 413.", .default_json = "1048576", .min = 1, .max = 1 << 30},
    {.key = "max_pending", .type = integer, .description = "Messages accepted and waiting for their commit; a request beyond gets 429 with Retry-After.", .default_json = "10000", .min = 1, .max = 10000000},
    {.key = "max_requests_per_s", .type = integer, .description = "Requests a second the receiver takes (bursts up to as many); more get 429 with Retry-After, before any credential check. 0: no limit.", .default_json = "0", .max = 10000000},
    {.key = "max_connections", .type = integer, .description = "Connections open at once; more are closed as soon as accepted.", .default_json = "256", .min = 1, .max = 65536},
    {.key = "max_connections_per_client", .type = integer, .description = "Connections open at once from one client address (behind a proxy, all come from its address); more are closed as soon as accepted.", .default_json = "64", .min = 1, .max = 65536},
    {.key = "request_timeout_s", .type = integer, .description = "Seconds a connection has to deliver a whole request (headers and body) from its opening or its previous answer; then it is closed. The wait for the commit does not count.", .default_json = "30", .min = 1, .max = 3600},
};
}  // namespace

const BackendSpec kHttpSourceSpec{Role::source, "http", "HTTP receiver; answers 2xx only after the inbox commit.", kHttpSourceKeys, "webhook", "webhook_|http_"};

}  // namespace relay
