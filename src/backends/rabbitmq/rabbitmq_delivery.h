// How a delivered AMQP message becomes a relay Message (identity, subject, headers, body,
// timestamp). Pure; unit-tested (tests/unit/rabbitmq_source_delivery_test.cpp).
#pragma once

#include <amqp.h>

#include <string>
#include <string_view>

#include "relay/message.h"

namespace relay::rabbitmq {

// dedup_key = the message-id property when set and not empty, else "sha256:<hex of the body>" (the
// same body published twice without a message-id is one event); subject = the routing key;
// source = "rabbitmq:<queue>"; data = the body as is; committed_at = the timestamp property
// (seconds; a value too large for seconds is read as milliseconds).
// headers = the basic properties that are set, under their AMQP names (content-type,
// content-encoding, correlation-id, reply-to, expiration, message-id, timestamp, type, user-id,
// app-id), then the headers table; a table entry named like a property that is set is left out.
void decode_delivery(std::string_view queue, std::string_view routing_key, const amqp_basic_properties_t& props,
                     std::string_view body, Message& out);

// A field-table value as text: strings and bytes as they are, numbers in decimal, booleans as
// true/false, timestamps in unix seconds, nested tables and arrays as JSON.
std::string field_text(const amqp_field_value_t& v);

}  // namespace relay::rabbitmq
