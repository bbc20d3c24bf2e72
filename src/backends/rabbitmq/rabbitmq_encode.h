// RabbitMQ wire form of a message (AMQP basic properties and headers), the url and the error
// tables: pure functions, unit-tested field by field (tests/unit/rabbitmq_encode_test.cpp).
#pragma once

#include <amqp.h>

#include <string>
#include <string_view>
#include <vector>

#include "relay/message.h"
#include "relay/result.h"

namespace relay::rabbitmq {

// The properties of one publish. They point into the Message (no copies): valid while both live.
//   content-type application/json, delivery-mode 2 (persistent), message-id = dedup_key,
//   app-id pgtrickle-relay, timestamp = the source commit (when known), headers:
//   pgtrickle-op, pgtrickle-stream-table, pgtrickle-key (when the message has a key), then the
//   application headers, all as long strings.
// The values the relay builds from names and identities (message-id, pgtrickle-stream-table,
// pgtrickle-key) are made header-safe (util/header_value.h); when that changes one, the Publish
// holds the encoded text (reuse it in place).
struct Publish {
  amqp_basic_properties_t props{};
  std::vector<amqp_table_entry_t> headers;  // what props.headers points to
  std::string message_id, stream_table, key;  // header-safe values that differ from the message's
};
void encode(const Message& m, Publish& out);

inline amqp_bytes_t bytes(std::string_view s) { return {s.size(), const_cast<char*>(s.data())}; }
inline std::string_view view(amqp_bytes_t b) { return {static_cast<const char*>(b.bytes), b.len}; }

// amqp[s]://[user[:password]@]host[:port][/vhost] (percent-decoded; no path or "/" is the vhost "/",
// "/%2F" too; defaults guest/guest and port 5672, 5671 for amqps).
struct Url {
  std::string host;
  int port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
  bool tls = false;  // amqps://
};

// PEM files for amqps: the CA that verifies the broker (empty: the system's CA bundle) and an
// optional client certificate and key.
struct TlsFiles {
  std::string ca, cert, key;
};
// The problem names the key (`key`: the sink's or the source's url) and what is expected; never the password.
Result<Url> parse_url(std::string_view url, std::string_view key = "sink.url");

// The error tables. A channel.close or connection.close from the broker by its reply code (and
// text: 406 is per message only for "message size ... larger than configured max size").
ErrorKind classify_close(int reply_code, std::string_view reply_text);
// A library status (amqp_status_enum) from publishing or waiting for confirms.
ErrorKind classify_status(int status);
// The body size a 406 "message size N is larger than configured max size M" names; -1 otherwise.
long long refused_size(std::string_view reply_text);

}  // namespace relay::rabbitmq
