#include "backends/http/webhook_encode.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "util/digest.h"
#include "util/header_value.h"
#include "util/strings.h"

namespace relay::http {
namespace {

// Framing and connection headers belong to libcurl; the identity and signature to the sink.
constexpr std::string_view kFraming[] = {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                                         "te", "trailer", "upgrade", "expect", "proxy-connection"};
// Application headers may not impersonate the configured credentials or the sink's own headers either.
constexpr std::string_view kNotFromMessages[] = {"content-type", "idempotency-key", "x-pgtrickle-signature", "authorization",
                                                 "proxy-authorization", "cookie"};

bool in(std::string_view name, std::span<const std::string_view> list) {
  return std::any_of(list.begin(), list.end(), [&](std::string_view r) { return util::iequals(name, r); });
}

bool configured(const EncodeOptions& o, std::string_view name) {
  return std::any_of(o.headers.begin(), o.headers.end(), [&](const Header& h) { return util::iequals(h.first, name); });
}

void add(std::vector<std::string>& out, std::string_view name, std::string_view value) {
  std::string line;
  line.reserve(name.size() + value.size() + 2);
  line.append(name).append(": ").append(value);
  out.push_back(std::move(line));
}

}  // namespace

std::string signature(std::string_view secret, std::int64_t unix_time, std::string_view body) {
  std::string signed_text = std::to_string(unix_time);
  signed_text += '.';
  signed_text += body;
  return fmt::format("t={},v1={}", unix_time, util::hmac_sha256_hex(secret, signed_text));
}

void encode_headers(std::string_view idempotency_key, std::span<const Header> app_headers, std::string_view body,
                    const EncodeOptions& options, std::int64_t unix_time, std::vector<std::string>& out,
                    std::string_view content_type) {
  if (!configured(options, "Content-Type")) add(out, "Content-Type", content_type.empty() ? "application/json" : content_type);
  // The identity holds the stream table's name, which its owner chose: made header-safe.
  std::string key_buf;
  add(out, "Idempotency-Key", util::header_safe(idempotency_key, key_buf));
  for (const auto& [name, value] : app_headers) {
    if (!util::is_http_token(name) || !util::fits_header(value) || in(name, kFraming) || in(name, kNotFromMessages)) continue;
    if (configured(options, name)) continue;
    add(out, name, value);
  }
  for (const auto& [name, value] : options.headers) add(out, name, value);
  if (!options.signing_secret.empty()) add(out, kSignatureHeader, signature(options.signing_secret, unix_time, body));
}

void encode_batch_body(std::span<const Message> batch, std::string& out) {
  size_t size = 2;
  for (const auto& m : batch) size += m.body.size() + 1;
  out.reserve(out.size() + size);
  out += '[';
  for (size_t i = 0; i < batch.size(); ++i) {
    if (i) out += ',';
    out += batch[i].body;
  }
  out += ']';
}

std::string batch_idempotency_key(std::span<const Message> batch) {
  if (batch.empty()) return {};
  if (batch.size() == 1) return batch.front().dedup_key;
  return batch.front().dedup_key + ".." + batch.back().dedup_key;
}

Answer classify_status(long status) {
  if (status >= 200 && status < 300) return Answer::delivered;
  if (status >= 500) return Answer::retriable;
  switch (status) {
    case 408:  // Request Timeout
    case 425:  // Too Early
    case 429:  // Too Many Requests
    case 401:  // Unauthorized: the credentials, not the message
    case 403:  // Forbidden: likewise
    case 407:  // Proxy Authentication Required
      return Answer::retriable;
    default:
      break;
  }
  if (status >= 400) return Answer::permanent;
  return Answer::retriable;  // 1xx/3xx: not followed; the url needs fixing, the message is fine
}

Result<std::vector<Header>> parse_headers(const nlohmann::json& headers) {
  std::vector<Header> out;
  if (headers.is_null()) return out;
  if (!headers.is_object()) return fatal("webhook sink: headers must be an object of header names and string values");
  for (const auto& [name, value] : headers.items()) {
    if (!util::is_http_token(name))
      return fatal(fmt::format("webhook sink: headers: \"{}\" is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)", name));
    if (in(name, kFraming))
      return fatal(fmt::format("webhook sink: headers: {} is set by the HTTP client and cannot be configured", name));
    if (util::iequals(name, "Idempotency-Key") || util::iequals(name, kSignatureHeader))
      return fatal(fmt::format("webhook sink: headers: {} is set by the relay for each request and cannot be configured", name));
    std::string text;
    if (value.is_string()) text = value.get<std::string>();
    else if (value.is_number() || value.is_boolean()) text = value.dump();
    else return fatal(fmt::format("webhook sink: headers.{} must be a string", name));
    if (!util::fits_header(text))
      return fatal(fmt::format("webhook sink: headers.{} must not contain line breaks or other control characters", name));
    out.emplace_back(name, std::move(text));
  }
  return out;
}

}  // namespace relay::http
