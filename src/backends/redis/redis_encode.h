// Redis Streams wire form of a message, the url and the error table: pure functions, unit-tested
// byte for byte (tests/unit/redis_encode_test.cpp).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "relay/message.h"
#include "relay/result.h"

namespace relay::redis {

// The fields of a stream entry, in this order: dedup_key, stream_table, op, key (omitted when the
// message has none), payload (the encoded envelope), then each application header as
// "header.<name>" (prefixed so a header can never shadow one of the fields above).
inline constexpr std::string_view kHeaderPrefix = "header.";

// Appends `XADD <routes[0]> [MAXLEN ~ <maxlen>] * <fields...>` for `m` as a RESP command, ready to
// be pipelined. maxlen <= 0 leaves the stream untrimmed.
void append_xadd(std::string& out, const Message& m, long long maxlen);

// redis://[user:pass@]host[:port][/db] (user and password percent-decoded).
struct Url {
  std::string host;
  int port = 6379;
  std::string user;      // empty: AUTH <password> (the default user)
  std::string password;  // empty: no AUTH
  bool has_password = false;
  int db = 0;
};
// The problem names the key and what is expected; never the password.
Result<Url> parse_url(std::string_view url);

// The error table: what an error reply to XADD means for that entry. `reply` is the server's text
// ("WRONGTYPE Operation against a key ...", "OOM command not allowed ...").
ErrorKind classify_reply(std::string_view reply);

}  // namespace relay::redis
