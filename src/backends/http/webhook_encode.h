// What the webhook sink puts on the wire, pure (no clock, no network) so it is tested byte for byte.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "relay/message.h"
#include "relay/result.h"

namespace relay::http {

inline constexpr std::string_view kSignatureHeader = "X-Pgtrickle-Signature";

struct EncodeOptions {
  std::vector<Header> headers;  // the configured `headers`, secrets already resolved
  std::string signing_secret;   // empty: no signature header
};

// The request headers ("Name: value") of one request: Content-Type (`content_type`, else
// application/json), Idempotency-Key (the identity made header-safe: control characters and '%'
// as %XX, util/header_value.h), the message's application headers (per-event requests only;
// reserved and malformed names, and values with control characters, skipped), the configured
// headers (which win over everything but the identity and signature), and the signature
// `X-Pgtrickle-Signature: t=<unix_time>,v1=<hex HMAC-SHA256(secret, "<unix_time>.<body>")>`.
void encode_headers(std::string_view idempotency_key, std::span<const Header> app_headers, std::string_view body,
                    const EncodeOptions& options, std::int64_t unix_time, std::vector<std::string>& out,
                    std::string_view content_type = {});

// The signature header's value.
std::string signature(std::string_view secret, std::int64_t unix_time, std::string_view body);

// The body of a batched request: a JSON array of the messages' bodies, in order.
void encode_batch_body(std::span<const Message> batch, std::string& out);

// The Idempotency-Key of a batched request: the dedup key of its one message, else
// "<first dedup key>..<last dedup key>" (stable as long as the same messages are batched together).
std::string batch_idempotency_key(std::span<const Message> batch);

// What an HTTP answer means for the messages of the request (the classification table): 2xx
// delivered; 408, 425, 429, 5xx retriable (retried in the request, then by the core); 401, 403 and
// 407 retriable too (credentials, not the message, are wrong: nothing is dead-lettered for them);
// 1xx/3xx retriable (a redirect is not followed: a misconfigured url, not a bad message); any other
// 4xx permanent.
enum class Answer { delivered, retriable, permanent };
Answer classify_status(long status);

// Checks the configured `headers` object and turns it into header pairs; errors name the header.
Result<std::vector<Header>> parse_headers(const nlohmann::json& headers);

}  // namespace relay::http
