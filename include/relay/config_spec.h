// The spec of one backend's configuration: the single source of truth for parsing, validation,
// --help, the SQL validator's data and the generated config reference.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>

namespace relay {

enum class Role { source, sink, pipeline };
const char* to_string(Role role);

enum class ValueType {
  string,
  integer,
  number,
  boolean,
  object,
  array,
  string_list,  // a string or an array of strings
  enumeration,  // a string out of `allowed`
  subject,      // a NATS publish subject template: no wildcard tokens
  slot_name,    // a replication slot the relay creates and drops: "pgtrickle_" then [a-z0-9_]
};
const char* to_string(ValueType type);

// A replication slot name the relay may create, read and drop: "pgtrickle_" then 1 to 53 of
// [a-z0-9_] (the server allows 63 bytes). A slot named otherwise is someone else's.
bool is_relay_slot_name(std::string_view name);
// Why `name` is not one, and what to write instead.
std::string relay_slot_name_rule(std::string_view name);

// A key naming a file on the relay's host, read (a certificate, a key, credentials) or written (the
// file sink). A pipeline defined in SQL names it literally and only under the operator's
// --sql-secrets-dir (read) or --sql-file-dir (written).
enum class HostFile { none, read, write };

// What kind of network address a key holds: such keys of a pipeline defined in SQL are checked
// against the operator's --sql-allow-destinations and --sql-deny-destinations, and the values a
// URL template inserts are URL-encoded.
enum class Destination {
  none,
  url,        // scheme://[user[:password]@]host[:port]/...
  url_list,   // URLs separated by commas (a NATS cluster)
  host_list,  // "host:port,..." or a list of them (Kafka brokers)
  conninfo,   // a libpq URL or key=value connection string
};

struct KeySpec {
  std::string_view key;
  ValueType type = ValueType::string;
  std::string_view description;
  bool required = false;
  std::string_view one_of;         // keys sharing a group name: exactly one must be given
  std::string_view allowed;        // enumeration values, '|'-separated
  std::string_view aliases;        // other accepted spellings, '|'-separated
  bool secret = false;             // never printed: logs, errors, /health, list_relay_configs()
  std::string_view default_json;   // JSON text of the default, empty when none
  bool template_ = false;          // rendered per message with {stream_table} {op} ... {{ column }}
  // The accepted range of an integer key: counts, sizes and durations are never negative, and
  // fit the int the backends hold them in unless a key says otherwise.
  int64_t min = 0;
  int64_t max = std::numeric_limits<int32_t>::max();
  HostFile host_file = HostFile::none;
  Destination destination = Destination::none;
};

constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

struct BackendSpec {
  Role role;
  std::string_view name;
  std::string_view description;
  std::span<const KeySpec> keys;
  std::string_view type_aliases;   // '|'-separated other names of the type (e.g. "inbox")
  std::string_view flat_prefixes;  // '|'-separated prefixes of the flat SQL form (e.g. "nats_")
};

// Joins spec fragments, each declared once (a connection's keys, the TLS trio), into the key list
// of one direction at compile time: the sink and the source of a backend share them, with one
// description and one default.
template <std::size_t... N>
constexpr std::array<KeySpec, (N + ...)> join_keys(const std::array<KeySpec, N>&... parts) {
  std::array<KeySpec, (N + ...)> out{};
  std::size_t at = 0;
  ((std::copy(parts.begin(), parts.end(), out.begin() + static_cast<std::ptrdiff_t>(at)), at += N), ...);
  return out;
}

// TLS with files on the relay's host, the same three keys wherever a backend offers TLS.
inline constexpr std::array<KeySpec, 3> kTlsClientKeys{{
    {.key = "tls_ca", .type = ValueType::string, .description = "CA certificate file (PEM) that verifies the server; default the system's CA store.", .host_file = HostFile::read},
    {.key = "tls_cert", .type = ValueType::string, .description = "Client certificate file (PEM), with tls_key.", .host_file = HostFile::read},
    {.key = "tls_key", .type = ValueType::string, .description = "Client private key file (PEM).", .secret = true, .host_file = HostFile::read},
}};

}  // namespace relay
