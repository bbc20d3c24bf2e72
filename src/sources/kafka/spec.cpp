#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "brokers", .type = string_list, .description = "Bootstrap brokers.", .required = true},
    {.key = "topic", .type = string_list, .description = "Topic or topics to consume.", .required = true, .aliases = "topics"},
    {.key = "group_id", .type = string, .description = "Consumer group; offsets are committed after the inbox commit.", .required = true},
    {.key = "auto_offset_reset", .type = enumeration, .description = "Where a new group starts.", .allowed = "earliest|latest", .default_json = "\"earliest\""},
    {.key = "rdkafka", .type = object, .description = "Any librdkafka property."},
};
}  // namespace

const BackendSpec kKafkaSourceSpec{Role::source, "kafka", "Apache Kafka consumer group.", kKeys, "", "kafka_"};

}  // namespace relay
