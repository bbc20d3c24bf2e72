#include "config/specs.h"

#include "backends/kafka/schema_registry_spec.h"

namespace relay {
namespace {
using enum ValueType;
constexpr std::array<KeySpec, 8> kKafkaSinkOwnKeys{{
    {.key = "brokers", .type = string_list, .description = "Bootstrap brokers, \"host:port,...\" or a list.", .required = true, .destination = Destination::host_list},
    {.key = "topic", .type = string, .description = "Topic template, e.g. \"{stream_table}-deltas\".", .required = true, .aliases = "topic_template", .template_ = true},
    {.key = "key", .type = string, .description = "Record key: a template such as \"{{ customer_id }}\" or column names \"a,b\"; default the pipeline's key (the row's key).", .aliases = "key_field|key_template", .template_ = true},
    {.key = "compression", .type = enumeration, .description = "Compression codec.", .allowed = "none|gzip|snappy|lz4|zstd", .default_json = "\"none\""},
    {.key = "acks", .type = enumeration, .description = "Broker acknowledgements required.", .allowed = "all|1|0", .default_json = "\"all\""},
    {.key = "rdkafka", .type = object, .description = "Any librdkafka property, e.g. {\"sasl.mechanism\": \"PLAIN\"}; also accepted as rdkafka.<name> keys."},
    {.key = "positions_topic", .type = string, .description = "\"delivery\": \"exactly_once\": the topic whose partition 0 the pipeline's position is committed against, in each transaction, as the offset of the consumer group named as its transactional id (nothing is written to the topic itself); created with one partition when missing; default pgtrickle-relay-positions."},
    {.key = "subject_name_strategy", .type = enumeration, .description = "avro converter: the subjects schemas are registered under: \"topic\" (<topic>-key, <topic>-value: Kafka's TopicNameStrategy), \"record\" (the record's full name) or \"topic_record\" (<topic>-<record name>); default \"topic\".", .allowed = "topic|record|topic_record"},
}};
constexpr auto kKafkaSinkKeys = join_keys(kKafkaSinkOwnKeys, kafka::kSchemaRegistryKeys);
}  // namespace

const BackendSpec kKafkaSinkSpec{Role::sink, "kafka", "Apache Kafka: idempotent producer, acks=all.", kKafkaSinkKeys, "", "kafka_"};

}  // namespace relay
