// What the SQS sink puts on the wire (SendMessageBatch in the JSON protocol) and what the answers
// mean, pure so it is tested byte for byte.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/message.h"
#include "relay/result.h"

namespace relay::sqs {

inline constexpr size_t kMaxEntries = 10;            // entries of one SendMessageBatch
inline constexpr size_t kMaxMessageBytes = 1048576;  // body + attributes of one message
inline constexpr size_t kMaxRequestBytes = 1048576;  // all of a batch's messages together
inline constexpr size_t kMaxAttributes = 10;         // message attributes per message

// A MessageDeduplicationId / MessageGroupId: the text itself when SQS accepts it (1 to 128 of the
// printable ASCII characters but space), else "sha256:" + the hex SHA-256 of the text (71
// characters), so the same input always gives the same id.
std::string fifo_id(std::string_view text);

// The message attributes sent with `m`, in order: dedup_key, op, stream_table, then the
// application headers whose names SQS accepts, up to 10 in all; empty values are left out. The
// identity and the stream table are made header-safe (util/header_value.h: they hold a name a
// table's owner chose); when that changes one, `buf` holds its text, and the views point into it.
struct AttributeBuffers {
  std::string dedup_key, stream_table;
};
void attributes(const Message& m, AttributeBuffers& buf, std::vector<std::pair<std::string_view, std::string_view>>& out);

// The size SQS counts for `m`: body bytes plus, per attribute, name + "String" + value.
size_t message_size(const Message& m);

// The JSON body of SendMessageBatch for up to 10 messages; entry ids are their indexes ("0".."9").
// FIFO queues get MessageGroupId (the rendered `message_group_id`, routes[0]; "default" when it
// renders empty) and MessageDeduplicationId (from the dedup key).
void encode_batch(std::string_view queue_url, bool fifo, std::span<const Message* const> batch, std::string& out);

// The result of one entry of a SendMessageBatch answer.
struct EntryResult {
  bool ok = false;
  bool sender_fault = false;
  std::string code, message;
};
// Parses a SendMessageBatch answer for `n` entries; entries the answer does not mention stay
// nullopt. Fails on an unreadable answer.
Result<std::vector<std::optional<EntryResult>>> parse_batch_answer(std::string_view body, size_t n);

// The error code of an error answer ({"__type":"com.amazonaws.sqs#QueueDoesNotExist",...} → "QueueDoesNotExist").
std::string error_code(std::string_view body);
std::string error_message(std::string_view body);

// The classification table. `transient`: try again (throttling, 5xx); `setup`: credentials,
// permissions, the queue or its KMS key are wrong — not the message's fault, so retried and never
// dead-lettered; `message`: this message can never be accepted (too long, invalid contents).
enum class Fault { transient, setup, message };
Fault classify_request_error(long http_status, std::string_view code);
Fault classify_entry_error(std::string_view code, bool sender_fault);

}  // namespace relay::sqs
