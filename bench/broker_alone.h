// What a broker takes on its own on this machine: the ceiling a relay draining into it cannot pass,
// and the acknowledgement latency no relay in front of it can beat, printed beside the relay's figures.
#pragma once

#include <string>

namespace bench {

// Messages/s nats-server stores (PubAck received) from a native client publishing `messages`
// envelopes the size of the relay's, each with its own Nats-Msg-Id, through nats.c's asynchronous
// JetStream publish (4,000 in flight) into a new file-storage stream. Negative when not measured.
double nats_publish_alone(const std::string& url, int messages);

// Messages/s Kafka stores (acks=all delivery reports) from librdkafka producing `messages` envelopes
// the size of the relay's, keyed and with the dedup_key header, with the relay's producer settings
// (idempotent, murmur2), into a new auto-created topic. Negative when not measured.
// With `transaction_size` > 0: a transactional producer committing a transaction every that many
// messages (what "delivery": "exactly_once" does per batch).
double kafka_produce_alone(const std::string& brokers, int messages, int transaction_size = 0);

// Publish → acknowledged latency of messages sent by a native client, one every
// 1/`rate` s, as the 50th and 99th percentiles in ms; negative when not measured.
struct AckLatency {
  double p50_ms = -1, p99_ms = -1;
};

// rabbitmq-c: persistent messages shaped as the relay's (properties, headers, mandatory, through
// amq.topic to a new durable queue), one every 1/`rate` s whether or not the earlier ones were
// confirmed (as the relay publishes a stream of commits), each timed to its publisher confirm (what
// the rabbitmq sink waits for).
AckLatency rabbitmq_confirm_alone(const std::string& url, int messages, int rate);

// nats.c: relay-sized messages with a Nats-Msg-Id into a new file-storage stream, each waiting for
// its PubAck (js_PublishMsg).
// One message per Kafka transaction (begin, produce, commit), timed to the commit's return.
AckLatency kafka_transaction_alone(const std::string& brokers, int messages, int rate);
AckLatency nats_pub_ack_alone(const std::string& url, int messages, int rate);

// libcurl, SigV4-signed: SendMessageBatch of one entry to a new queue, each waiting for the answer.
AckLatency sqs_send_alone(const std::string& endpoint, int messages, int rate);

}  // namespace bench
