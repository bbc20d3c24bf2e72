// What the SQS source puts on the wire (ReceiveMessage, DeleteMessageBatch,
// ChangeMessageVisibilityBatch in the JSON protocol), how a received message becomes a Message,
// and the bookkeeping of visibility leases — pure, so it is tested without a server or a clock.
#pragma once

#include <chrono>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "relay/message.h"
#include "relay/result.h"

namespace relay::sqs {

inline constexpr size_t kMaxReceive = 10;  // messages of one ReceiveMessage, entries of one batch request

// The body of ReceiveMessage: every system attribute and every message attribute;
// `visibility_timeout` 0 leaves the queue's own.
void encode_receive(std::string_view queue_url, int max_messages, int wait_seconds, int visibility_timeout, std::string& out);

struct Received {
  Message message;
  std::string receipt_handle;
};

// The messages of a ReceiveMessage answer, as they go to the inbox: dedup_key is the
// MessageDeduplicationId (FIFO), else the message attribute `dedup_key` (what the relay's SQS sink
// writes), else the MessageId; subject is the queue name, source "sqs:<queue name>", headers the
// String and Number message attributes, committed_at the SentTimestamp. Fails on an unreadable answer.
Result<std::vector<Received>> parse_receive_answer(std::string_view body, std::string_view queue_name);

// DeleteMessageBatch of up to 10 receipt handles; entry ids are their indexes ("0".."9").
void encode_delete_batch(std::string_view queue_url, std::span<const std::string> handles, std::string& out);
// ChangeMessageVisibilityBatch of up to 10 receipt handles, all to `timeout_s` seconds.
void encode_visibility_batch(std::string_view queue_url, std::span<const std::string> handles, int timeout_s, std::string& out);

// The messages received and not yet deleted, with the time each stays hidden: what must be
// extended while a batch takes long, and made visible again on stop. Thread-safe.
class Leases {
 public:
  using Time = std::chrono::steady_clock::time_point;
  // `handles` became hidden at `received` (when the receive was sent, to be safe) for `visibility`.
  void add(std::span<const std::string> handles, Time received, std::chrono::seconds visibility);
  void remove(std::span<const std::string> handles);
  // The handles that have used half of their visibility or more at `now`; their lease is renewed
  // to `now + visibility` (the caller extends them at the broker with that timeout).
  std::vector<std::string> due(Time now, std::chrono::seconds visibility);
  // Every handle left (they are forgotten).
  std::vector<std::string> take_all();
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  struct Lease {
    Time since, until;
  };
  std::unordered_map<std::string, Lease> leases_;
};

}  // namespace relay::sqs
