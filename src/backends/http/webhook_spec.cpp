#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr std::array<KeySpec, 9> kWebhookSinkOwnKeys{{
    {.key = "url", .type = string, .description = "Target URL template.", .required = true, .template_ = true, .destination = Destination::url},
    {.key = "method", .type = enumeration, .description = "HTTP method.", .allowed = "POST|PUT|PATCH", .default_json = "\"POST\""},
    {.key = "headers", .type = object, .description = "Extra headers; values may use ${ENV:NAME}."},
    {.key = "timeout_ms", .type = integer, .description = "Whole-request timeout.", .default_json = "10000", .min = 1, .max = 3600000},
    {.key = "batch", .type = boolean, .description = "One POST per batch (a JSON array) instead of one per event.", .aliases = "batch_mode", .default_json = "false"},
    {.key = "retry_max", .type = integer, .description = "Retries of a 408/429/5xx answer or a network error within one delivery attempt, before the core retries.", .default_json = "3", .max = 100},
    {.key = "retry_backoff_ms", .type = integer, .description = "First backoff between those retries.", .default_json = "200", .max = 600000},
    {.key = "max_in_flight", .type = integer, .description = "Per-event requests in flight at once: 1 keeps the pipeline's order; more sends messages with different keys in parallel (order kept per key).", .default_json = "1", .min = 1, .max = 64},
    {.key = "signing_secret", .type = string, .description = "HMAC-SHA256 key for the signature header.", .secret = true},
}};
constexpr auto kWebhookSinkKeys = join_keys(kWebhookSinkOwnKeys, kTlsClientKeys);
}  // namespace

const BackendSpec kWebhookSinkSpec{Role::sink, "webhook", "HTTP webhook: per-event or batched requests with Idempotency-Key.", kWebhookSinkKeys, "http", "webhook_|http_"};

}  // namespace relay
