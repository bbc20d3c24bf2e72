// How a JetStream message becomes a relay::Message: pure functions, unit-tested
// (tests/unit/nats_source_decode_test.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "relay/message.h"

namespace relay::nats {

// What JetStream puts in the reply subject of a delivered message:
//   $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>
// or, from servers with domains/accounts in the ack subject (v2, 12+ tokens):
//   $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>.<token>
struct Delivery {
  std::string_view stream;
  std::string_view consumer;
  std::uint64_t delivered = 0;     // how many times the server delivered it (1 the first time)
  std::uint64_t stream_seq = 0;
  std::uint64_t consumer_seq = 0;
  std::int64_t timestamp_ns = 0;   // when the stream stored it
  std::uint64_t pending = 0;       // messages of the consumer not yet delivered after this one
};
std::optional<Delivery> parse_ack_subject(std::string_view reply);

// The message the inbox gets: dedup_key = header Nats-Msg-Id (any case) if present and not empty,
// else "<stream>:<stream seq>"; subject; source "nats:<stream>"; data as received; headers as
// given (values of a repeated header joined by ","); committed_at from the stream's timestamp.
Message to_message(std::string_view stream, std::string_view subject, std::string_view data,
                   std::vector<Header> headers, const Delivery& delivery);

}  // namespace relay::nats
