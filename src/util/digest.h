// Digests, signatures and encodings (OpenSSL): request signing, deterministic ids, HMAC checks.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay::util {

// SHA-256 and HMAC-SHA256 as lowercase hex.
std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// Compares in time that depends only on the lengths, so a signature check leaks nothing.
bool constant_time_equal(std::string_view a, std::string_view b);
std::string base64_encode(std::string_view data);
// Standard base64 with padding; none when `text` is not.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace relay::util
