// Small string helpers shared across the relay.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace relay::util {

// Splits a '|'-separated spec list ("a|b|c"); empty input gives no items.
std::vector<std::string_view> split_list(std::string_view list, char sep = '|');
bool list_contains(std::string_view list, std::string_view item, char sep = '|');
std::size_t levenshtein(std::string_view a, std::string_view b);
// The closest candidate to `word` when close enough to be a likely typo, else empty.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);
std::string join(const std::vector<std::string>& items, std::string_view sep);
bool starts_with(std::string_view s, std::string_view prefix);
// ASCII case-insensitive comparisons (header names, schemes).
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
// Hides the secrets a URL, a connection string or an error quoting them may carry: every value
// resolved from a reference (show_as_reference) reads as its reference, whole, line by line or cut
// short; the password of every scheme://user:password@host, and the value of each query parameter
// or key=value setting whose name contains token, key, secret, password, passwd, pwd, signature,
// sig, auth or credential, read "***". The one home of redaction: logs, /health and the status
// table all go through it, before any other rewriting.
std::string redact_url(std::string_view url);
// From now on, redact_url (so every log field, /health and the status table) shows `value` as
// `reference` (e.g. "${ENV:NATS_URL}"): a check refusing a value resolved from a reference may
// quote it, and the value is a secret. So are each of its lines, and any start of it (of either)
// of at least 8 bytes where a text was cut. Numbers, true/false and texts under 4 bytes are left
// as they are: they hold no secret, and hiding them would hide the same text everywhere else.
void show_as_reference(std::string_view value, std::string_view reference);
// Whether `text` shows a value resolved from a reference, or part of one, as redact_url finds them.
bool holds_resolved_value(std::string_view text);
// Text from outside (a response body, a server's error) fit for logs, /health and the status
// table: secrets are redacted (redact_url) first, then control characters become spaces and at
// most `max_bytes` are kept (then "…").
std::string safe_excerpt(std::string_view text, size_t max_bytes = 200);
// Splits a URL authority's "host[:port]" or "[v6]:port" (user info already removed); `port` keeps
// its value when none is given. Returns "" or what is wrong, never quoting the text (a password
// written in the wrong place would be read as the port).
std::string parse_host_port(std::string_view authority, std::string& host, int& port);
// An RFC 9110 token: what an HTTP header name may be made of.
bool is_http_token(std::string_view name);
// Decodes %XX escapes (URL user info, vhosts); false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);
// Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s);
// Text PostgreSQL can store: valid UTF-8 without NUL bytes.
bool valid_text(std::string_view s);

}  // namespace relay::util
