// Dead letters kept so that they can be sent again: the message as the sink got it, stored beside
// the readable columns of pgtrickle.relay_dead_letters, and read back as the same message.
#pragma once

#include <string>
#include <string_view>

#include "relay/message.h"
#include "relay/result.h"

namespace relay::dead_letters {

// A dead letter set aside, with its message kept to send again ($9 replay_record(), $10 the body
// base64); before the install had those columns, without them.
inline constexpr const char* kInsertSql =
    "INSERT INTO pgtrickle.relay_dead_letters (relay_group_id, pipeline, direction, dedup_key, error, payload, raw_payload, headers, "
    "replay, body) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9::jsonb, decode($10, 'base64'))";
inline constexpr const char* kInsertBeforeReplaySql =
    "INSERT INTO pgtrickle.relay_dead_letters (relay_group_id, pipeline, direction, dedup_key, error, payload, raw_payload, headers) "
    "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb)";

// The dead letters of a pipeline asked to be sent again ($1), oldest first, a batch at a time:
// id, replay, body (base64).
inline constexpr const char* kRequestedSql =
    "SELECT id, replay::text, translate(encode(body, 'base64'), E'\\n', '') FROM pgtrickle.relay_dead_letters "
    "WHERE pipeline = $1 AND replay_requested_at IS NOT NULL AND replay IS NOT NULL ORDER BY id LIMIT 100";
// Sent ($3 NULL): gone. Refused again ($2 id, $3 the reason): kept, not asked for any more.
inline constexpr const char* kReplayedSql = "SELECT pgtrickle._relay_dead_letter_replayed($1, $2::bigint, $3)";

// The `replay` column: everything of `m` but its body (the `body` column), byte strings base64.
std::string replay_record(const Message& m);

// The message a `replay` column and `body` describe; an error names what is unreadable.
Result<Message> replayed_message(std::string_view record, std::string body);

// Text as PostgreSQL's text columns hold it: as it is, or "base64:..." where it is not valid text
// (NUL bytes, invalid UTF-8) or could be mistaken for such an encoding.
std::string as_text(const std::string& s);

}  // namespace relay::dead_letters
