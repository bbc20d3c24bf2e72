// NATS JetStream wire form of a message and the stream layout derived from the subject template:
// pure functions, unit-tested byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/message.h"
#include "relay/result.h"

namespace relay::nats {

// The headers a message is published with: Nats-Msg-Id (JetStream's dedup identity, the message's
// dedup_key made header-safe, util/header_value.h: it holds the stream table's name), then the
// application headers (a name that is not an HTTP token, or a value with a control character, is
// skipped: either would break the header block). Nothing else: every header costs the client and
// the server a parse per message (the operation is in the envelope and usually in the subject).
// The views are of whole strings (the message's, or `id_buf` holding the encoded identity), so each
// is NUL-terminated (for nats.c); `id_buf` must outlive them.
std::vector<std::pair<std::string_view, std::string_view>> headers(const Message& m, std::string& id_buf);

// JetStream's answer to a publish: {"stream":"S","seq":N[,"duplicate":true]} when stored, or
// {"error":{"code":400,"err_code":10054,"description":"..."}} when not.
struct PubAck {
  bool stored = false;
  int err_code = 0;         // JetStream's error code (e.g. 10054: larger than the stream's max_msg_size)
  std::string error;        // the description, or what was wrong with the answer itself
};
PubAck parse_pub_ack(std::string_view body);

// The reply subject of a publish names its batch (generation) and index in the batch, so its
// PubAck finds the outcome without a lookup table: "<inbox>.<generation>-<index>".
std::string reply_subject(std::string_view inbox, std::uint32_t generation, std::size_t index);
// Reads them back from a reply subject; false when it is not one of ours.
bool parse_reply_subject(std::string_view subject, std::uint32_t& generation, std::size_t& index);

// A subject a JetStream publish accepts: non-empty tokens separated by '.', no wildcards or
// whitespace. Returns "" when fine, else what is wrong.
std::string subject_problem(std::string_view subject);

// The stream subjects covering every subject the template can render: its leading whole literal
// tokens followed by ">" ("pgtrickle.{stream_table}.{op}" → "pgtrickle.>"), or the template itself
// when it has no variables. Empty when the template starts with a variable.
std::string stream_subject(std::string_view template_text, std::string_view literal_prefix);

// A stream name for a template's subjects when none is configured: the literal tokens joined by
// '_' ("revenue.{{ region }}" → "revenue").
std::string default_stream_name(std::string_view stream_subject);

}  // namespace relay::nats
