#include "backends/http/http_receive.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

#include "util/digest.h"
#include "util/json_scan.h"
#include "util/strings.h"

namespace relay::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Why a text is not JSON, in the parser's words (without its exception prefix).
std::string json_problem(std::string_view body) {
  try {
    [[maybe_unused]] auto parsed = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (auto close = what.find("] "); what.rfind("[json.exception", 0) == 0 && close != std::string::npos) what = what.substr(close + 2);
    return what;
  }
  return "not a single JSON value";
}

Message make_message(const RequestInfo& info, std::string source) {
  Message m;
  m.op = Op::event;
  m.subject = std::string(info.path);
  m.source = std::move(source);
  m.headers = info.headers;
  m.committed_at = info.received_at;
  return m;
}

}  // namespace

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
  authorization = trim(authorization);
  if (authorization.size() < 7 || !util::iequals(authorization.substr(0, 7), "bearer ")) return false;
  return util::constant_time_equal(trim(authorization.substr(7)), token);
}

SignatureCheck verify_signature(std::string_view header, std::string_view secret, std::string_view body, std::int64_t now_unix,
                                std::int64_t tolerance_s, std::int64_t* age_s) {
  header = trim(header);
  if (header.empty()) return SignatureCheck::missing;
  std::string_view t;
  std::vector<std::string_view> v1;
  for (auto part : util::split_list(header, ',')) {
    part = trim(part);
    auto eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    auto k = part.substr(0, eq), v = part.substr(eq + 1);
    if (k == "t") t = v;
    else if (k == "v1") v1.push_back(v);
  }
  if (t.empty() || t.size() > 12 || v1.empty() || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return SignatureCheck::malformed;
  std::string signed_text(t);
  signed_text += '.';
  signed_text += body;
  std::string expected = util::hmac_sha256_hex(secret, signed_text);
  bool match = false;
  for (auto v : v1) match |= util::constant_time_equal(lower(v), expected);  // every candidate, in constant time each
  if (!match) return SignatureCheck::mismatch;
  std::int64_t age = now_unix - std::stoll(std::string(t));
  if (age_s) *age_s = age;
  if (age > tolerance_s || -age > tolerance_s) return SignatureCheck::stale;
  return SignatureCheck::ok;
}

bool keep_header(std::string_view name) {
  static constexpr std::string_view dropped[] = {
      "authorization", "proxy-authorization", "cookie", "x-pgtrickle-signature", "host", "content-length", "connection",
      "transfer-encoding", "keep-alive", "expect", "te", "upgrade",
      // names servers use for the peer and local address: never taken from a client
      "remote_addr", "remote_port", "local_addr", "local_port"};
  for (auto d : dropped)
    if (util::iequals(name, d)) return false;
  return !name.empty();
}

bool parse_body(std::string_view body, const RequestInfo& info, std::vector<Message>& out, std::string& error) {
  if (!util::valid_utf8(body)) {
    error = "the body is not valid UTF-8; expected JSON text";
    return false;
  }
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    error = "the body is empty; expected a JSON value";
    return false;
  }
  if (!json_scan::valid(body)) {
    error = "the body is not valid JSON: " + json_problem(body);
    return false;
  }
  std::string source = "http:" + std::string(info.path);
  // A batched webhook body: every element names its own identity.
  size_t start = out.size();
  size_t pos = 0;
  std::string_view whole;
  if (json_scan::read_value(body, pos, whole) && json_scan::kind(whole) == '[') {
    bool batch = true, any = false;
    json_scan::each_element(whole, [&](std::string_view element) {
      if (!batch) return;
      std::string_view key;
      if (json_scan::kind(element) != '{' || !json_scan::field(element, "dedup_key", key) || json_scan::kind(key) != '"' || key.size() <= 2) {
        batch = false;
        return;
      }
      Message m = make_message(info, source);
      json_scan::append_text(m.dedup_key, key);
      m.data = std::string(element);
      out.push_back(std::move(m));
      any = true;
    }, /*trusted=*/true);
    if (batch && any) return true;
    out.resize(start);
  }
  Message m = make_message(info, std::move(source));
  // A signed request's identity comes from what the signature covers, never from the unsigned
  // Idempotency-Key: a replay of it under other keys is the same event.
  std::string_view key;
  if (!info.signed_body && !info.idempotency_key.empty()) m.dedup_key = info.idempotency_key;
  else if (info.signed_body && json_scan::kind(whole) == '{' && json_scan::field(whole, "dedup_key", key) && json_scan::kind(key) == '"' && key.size() > 2)
    json_scan::append_text(m.dedup_key, key);
  else m.dedup_key = "sha256:" + util::sha256_hex(body);
  m.data = std::string(body);
  out.push_back(std::move(m));
  return true;
}

bool RateLimit::take(double now_s, double* wait_s) {
  if (rate_ <= 0) return true;
  if (last_ >= 0) tokens_ = std::min(rate_, tokens_ + (now_s - last_) * rate_);
  last_ = now_s;
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return true;
  }
  if (wait_s) *wait_s = (1 - tokens_) / rate_;
  return false;
}

}  // namespace relay::http
