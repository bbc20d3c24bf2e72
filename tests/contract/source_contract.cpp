#include "source_contract.h"

namespace relay::test {

std::unique_ptr<SourceHarness> make_nats_source_harness();
std::unique_ptr<SourceHarness> make_kafka_source_harness();
std::unique_ptr<SourceHarness> make_redis_source_harness();
std::unique_ptr<SourceHarness> make_rabbitmq_source_harness();
std::unique_ptr<SourceHarness> make_sqs_source_harness();
std::unique_ptr<SourceHarness> make_http_source_harness();

std::unique_ptr<SourceHarness> make_source_harness(const std::string& source_type) {
#if RELAY_WITH_NATS
  if (source_type == "nats") return make_nats_source_harness();
#endif
#if RELAY_WITH_KAFKA
  if (source_type == "kafka") return make_kafka_source_harness();
#endif
#if RELAY_WITH_REDIS
  if (source_type == "redis") return make_redis_source_harness();
#endif
#if RELAY_WITH_RABBITMQ
  if (source_type == "rabbitmq") return make_rabbitmq_source_harness();
#endif
#if RELAY_WITH_SQS
  if (source_type == "sqs") return make_sqs_source_harness();
#endif
  if (source_type == "http") return make_http_source_harness();
  return nullptr;
}

}  // namespace relay::test
