// Exactly once into Kafka: where a pipeline's position lives on the broker. Each transaction commits
// the position record as the offset metadata of a consumer group named as the producer's
// transactional id, on partition 0 of the positions topic (KIP-447's transactional offset commit):
// committed or aborted with the batch's records, never apart from them. Nothing is written to the
// topic itself; it only gives the offset a partition to belong to. Read back with
// isolation.level=read_committed, which waits for a transaction still being decided.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>
#include <string_view>
#include <vector>

#include "backends/kafka/kafka_client.h"
#include "backends/kafka/kafka_config.h"
#include "relay/message.h"
#include "relay/result.h"

namespace relay::kafka {

class PositionLog {
 public:
  // `props`: the producer's (its brokers and login); `group`: the transactional id.
  PositionLog(std::vector<Property> props, std::string topic, std::string group);
  ~PositionLog();
  PositionLog(const PositionLog&) = delete;
  PositionLog& operator=(const PositionLog&) = delete;

  const std::string& topic() const { return topic_; }

  // Creates the positions topic (one partition) when the cluster does not have it, with `client`.
  Status ensure_topic(rd_kafka_t* client, Deadline deadline);
  // The record committed last ("" when none), once no transaction of the group is being decided.
  Result<std::string> read(Deadline deadline) const;
  // Adds `record` to `producer`'s open transaction; null or librdkafka's error.
  rd_kafka_error_t* add_to_transaction(rd_kafka_t* producer, std::string_view record, Deadline deadline) const;

 private:
  std::vector<Property> props_;
  std::string topic_, group_;
  rd_kafka_consumer_group_metadata_t* group_metadata_;
  bool topic_checked_ = false;
};

}  // namespace relay::kafka
