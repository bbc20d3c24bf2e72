#include "config/specs.h"

#include "backends/kafka/schema_registry_spec.h"

namespace relay {
namespace {
using enum ValueType;
constexpr std::array<KeySpec, 6> kKafkaSourceOwnKeys{{
    {.key = "brokers", .type = string_list, .description = "Bootstrap brokers, \"host:port,...\" or a list.", .required = true, .destination = Destination::host_list},
    {.key = "topic", .type = string_list, .description = "Topic or topics to consume, \"a,b\" or a list; \"^regex\" subscribes by pattern.", .required = true, .aliases = "topics"},
    {.key = "group_id", .type = string, .description = "Consumer group; offsets are committed after the inbox commit.", .required = true},
    {.key = "auto_offset_reset", .type = enumeration, .description = "Where a new group starts.", .allowed = "earliest|latest", .default_json = "\"earliest\""},
    {.key = "rdkafka", .type = object, .description = "Any librdkafka consumer property, e.g. {\"session.timeout.ms\": \"10000\"}; also accepted as rdkafka.<name> keys. enable.auto.commit is the relay's: offsets are committed only after the inbox commit."},
    {.key = "schema_unavailable", .type = enumeration, .description = "avro converter: a record whose schema the registry cannot give now (it cannot be reached): \"wait\" (the pipeline waits, then reads it again) or \"dead_letter\" (it goes to the dead letters with the reason); default \"wait\". A record that is not Avro, or not of its schema, is always dead-lettered.", .allowed = "wait|dead_letter"},
}};
constexpr auto kKafkaSourceKeys = join_keys(kKafkaSourceOwnKeys, kafka::kSchemaRegistryKeys);
}  // namespace

const BackendSpec kKafkaSourceSpec{Role::source, "kafka", "Apache Kafka consumer group.", kKafkaSourceKeys, "", "kafka_"};

}  // namespace relay
