// NATS JetStream wire form of a message and the stream layout derived from the subject template:
// pure functions, unit-tested byte for byte.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "relay/message.h"
#include "relay/result.h"

namespace relay::nats_wire {

// The headers a message is published with: Nats-Msg-Id (JetStream's dedup identity, the message's
// dedup_key), then the application headers. Nothing else: every header costs the client and the
// server a parse per message (the operation is in the envelope and usually in the subject).
// The views are of whole strings, so each is NUL-terminated (for nats.c).
std::vector<std::pair<std::string_view, std::string_view>> headers(const Message& m);

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

}  // namespace relay::nats_wire
