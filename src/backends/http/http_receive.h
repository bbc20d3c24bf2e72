// What the HTTP receiver decides about a request, pure (no socket, no clock) so every answer is
// tested: the credentials (bearer token, the webhook sink's HMAC signature), and how a body
// becomes messages (one event, or a batched webhook body of many).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backends/http/webhook_encode.h"  // kSignatureHeader: the header the webhook sink signs with
#include "relay/message.h"

namespace relay::http {

// `Authorization: Bearer <token>` (scheme case-insensitive), compared in constant time.
bool bearer_matches(std::string_view authorization, std::string_view token);

// The signature the relay's webhook sink sends: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
// "<t>.<body>")>` (several v1 entries are accepted, for key rotation on the sender's side).
enum class SignatureCheck {
  ok,
  missing,    // no header
  malformed,  // no t= or no v1=
  mismatch,   // no v1 matches the body
  stale,      // matches, but t is further than `tolerance_s` from now (replay protection)
};
SignatureCheck verify_signature(std::string_view header, std::string_view secret, std::string_view body, std::int64_t now_unix,
                                std::int64_t tolerance_s, std::int64_t* age_s = nullptr);

// Request headers that are kept on the message (lower-cased names): all but the credentials
// (Authorization, Proxy-Authorization, Cookie, the signature) and the connection's own (Host,
// Content-Length, Connection, Transfer-Encoding, Keep-Alive, Expect, TE, Upgrade).
bool keep_header(std::string_view name);
std::string lower(std::string_view s);

struct RequestInfo {
  std::string_view path;
  std::string idempotency_key;  // the header, may be empty
  bool signed_body = false;     // the signature was checked: the identity comes from the body, not the header
  std::vector<Header> headers;       // already filtered by keep_header
  double received_at = 0;            // unix seconds
};

// The messages of a request body, or an error naming what is wrong (answered 400):
//  - not valid UTF-8, empty, or not one JSON value → error;
//  - a non-empty JSON array whose every element is an object with a non-empty string `dedup_key`
//    (what the relay's webhook sink sends with batch = true) → one message per element, its
//    dedup_key the element's, its data the element's exact text;
//  - anything else → one message: dedup_key the Idempotency-Key, else "sha256:<hex of the body>";
//    for a signed body (signed_body), what the signature covers: the object's string `dedup_key`
//    (the webhook sink's envelope), else "sha256:<hex of the body>" — the header is not signed.
// subject = the path, source = "http:<path>", op = event, the request's headers on each.
bool parse_body(std::string_view body, const RequestInfo& info, std::vector<Message>& out, std::string& error);

// A token bucket: `per_second` requests a second on average, bursts of up to `per_second`; 0 lets
// everything through. Not thread-safe (the receiver holds its lock).
class RateLimit {
 public:
  explicit RateLimit(double per_second = 0) : rate_(per_second), tokens_(per_second) {}
  // Takes one request at `now_s` (seconds, any monotonic origin); false when over the rate, with
  // the seconds until one more would pass in `wait_s`.
  bool take(double now_s, double* wait_s = nullptr);

 private:
  double rate_, tokens_, last_ = -1;
};

}  // namespace relay::http
