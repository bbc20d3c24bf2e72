// How a Redis stream entry becomes a relay::Message: pure functions, unit-tested
// (tests/unit/redis_source_decode_test.cpp).
#pragma once

#include <span>
#include <string_view>
#include <utility>

#include "relay/message.h"
#include "relay/result.h"

namespace relay::redis {

using Field = std::pair<std::string_view, std::string_view>;

// dedup_key = field event_id, else field dedup_key (what the relay's Redis sink writes), else
// "<stream_key>:<entry id>"; data = field payload if present, else every field as a JSON object
// of strings (in entry order); headers = the fields "header.<name>" without the prefix;
// subject = the stream key; source = "redis:<stream_key>"; committed_at = the entry id's time.
Message to_message(std::string_view stream_key, std::string_view entry_id, std::span<const Field> fields);

// The unix time in seconds of an entry id ("<ms>-<seq>"); 0 when it is not one.
double entry_time(std::string_view entry_id);

// What an error reply to the source's commands (XGROUP, XREADGROUP, XAUTOCLAIM, XACK) means:
// fatal when only an operator can fix it (WRONGTYPE: the key is not a stream; NOPERM, NOAUTH,
// cluster redirects, an unknown command on a server older than 6.2), else retriable (NOGROUP after
// the group or key was deleted: a restart creates it again; LOADING, BUSY, ...).
ErrorKind classify_source_reply(std::string_view reply);

}  // namespace relay::redis
